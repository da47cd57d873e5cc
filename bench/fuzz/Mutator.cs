namespace Meridian.Bench.Fuzz;

/// <summary>
/// Mutates inputs the way coverage-blind fuzzers do: bit flips, interesting bytes and 32-bit values (0, 0xFF, lengths,
/// boundaries), inserted, deleted and repeated runs, and splices of two corpus entries. Deterministic for a seed.
/// </summary>
public sealed class Mutator(int seed)
{
    private static readonly byte[] InterestingBytes = [0x00, 0x01, 0x02, 0x03, 0x04, 0x06, 0x07, 0x10, 0x20, 0x23, 0x24, 0x7F, 0x80, 0xC0, 0xE3, 0xFF, (byte)'\n', (byte)' ', (byte)'=', (byte)',', (byte)'"', (byte)'#'];

    private static readonly uint[] InterestingWords = [0, 1, 4, 16, 20, 24, 28, 48, 68, 468, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x0001_0000, 0x0000_FFFF];

    private readonly Random _random = new(seed);

    public byte[] Mutate(IReadOnlyList<byte[]> corpus)
    {
        byte[] input = (byte[])corpus[_random.Next(corpus.Count)].Clone();
        int rounds = 1 + _random.Next(4);
        for (int r = 0; r < rounds; r++)
        {
            input = Once(input, corpus);
        }

        return input.Length > 4096 ? input[..4096] : input;
    }

    private byte[] Once(byte[] input, IReadOnlyList<byte[]> corpus)
    {
        if (input.Length == 0)
        {
            return [InterestingBytes[_random.Next(InterestingBytes.Length)]];
        }

        int at = _random.Next(input.Length);
        switch (_random.Next(8))
        {
            case 0:
                input[at] ^= (byte)(1 << _random.Next(8));
                return input;
            case 1:
                input[at] = InterestingBytes[_random.Next(InterestingBytes.Length)];
                return input;
            case 2 when input.Length >= 4:
                at = _random.Next(input.Length - 3);
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(input.AsSpan(at), InterestingWords[_random.Next(InterestingWords.Length)]);
                return input;
            case 3:
                int length = Math.Min(input.Length - at, 1 + _random.Next(16));
                return [.. input.AsSpan(0, at), .. input.AsSpan(at + length)];
            case 4:
                var insert = new byte[1 + _random.Next(16)];
                _random.NextBytes(insert);
                return [.. input.AsSpan(0, at), .. insert, .. input.AsSpan(at)];
            case 5:
                int run = Math.Min(input.Length - at, 1 + _random.Next(32));
                return [.. input.AsSpan(0, at + run), .. input.AsSpan(at, run), .. input.AsSpan(at + run)];
            case 6:
                byte[] other = corpus[_random.Next(corpus.Count)];
                int cut = other.Length == 0 ? 0 : _random.Next(other.Length);
                return [.. input.AsSpan(0, at), .. other.AsSpan(cut)];
            default:
                input[at] = (byte)_random.Next(256);
                return input;
        }
    }
}
