using System.Buffers.Binary;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;
using X86Aes = System.Runtime.Intrinsics.X86.Aes;
using X86Sse2 = System.Runtime.Intrinsics.X86.Sse2;

namespace Meridian.Engine.Nts;

/// <summary>
/// One AES-128 key (FIPS 197) for the block operations the NTS AEADs are built from. Where the CPU has AES
/// instructions the key is expanded (FIPS 197 §5.2) into round keys kept in an array made once, so
/// <see cref="SetKey"/> replaces the key without allocating: the server rekeys one instance per thread for each
/// request's session keys (RFC 8915 §5.7). Elsewhere the platform's AES makes an ECB transform per key, which allocates.
/// </summary>
/// <remarks>
/// Encryption only reads the round keys, so one instance may encrypt on several threads at once (the cookie master
/// key's); the transform fallback takes a lock for its shared buffers. <see cref="SetKey"/> must not race with use.
/// </remarks>
internal sealed class Aes128 : IDisposable
{
    public const int KeySize = 16;
    public const int BlockSize = 16;

    private const int Rounds = 10;

    // The fallback transforms, and CTR makes keystream, this many blocks at a time.
    private const int ChunkBlocks = 16;

    private readonly Vector128<byte>[]? _roundKeys;
    private readonly byte[]? _in;
    private readonly byte[]? _out;
    private readonly Lock? _lock;
    private ICryptoTransform? _transform;

    public Aes128(ReadOnlySpan<byte> key)
    {
        if (Accelerated)
        {
            _roundKeys = new Vector128<byte>[Rounds + 1];
        }
        else
        {
            _in = new byte[ChunkBlocks * BlockSize];
            _out = new byte[ChunkBlocks * BlockSize];
            _lock = new Lock();
        }

        SetKey(key);
    }

    /// <summary>True when keys are expanded with the CPU's AES instructions, so rekeying allocates nothing.</summary>
    public static bool Accelerated => X86Aes.IsSupported;

    /// <summary>Replaces the key; allocation-free when <see cref="Accelerated"/>.</summary>
    public void SetKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"AES-128 needs a {KeySize}-octet key, not {key.Length}", nameof(key));
        }

        if (_roundKeys is not null)
        {
            Expand(key, _roundKeys);
            return;
        }

        _transform?.Dispose();
        using var aes = System.Security.Cryptography.Aes.Create();
        aes.Mode = CipherMode.ECB;
        aes.Padding = PaddingMode.None;
        byte[] k = key.ToArray();
        try
        {
            _transform = aes.CreateEncryptor(k, null);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(k);
        }
    }

    /// <summary>AES-ECB of whole blocks; <paramref name="output"/> may be <paramref name="input"/>.</summary>
    public void Encrypt(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (_roundKeys is not null)
        {
            Vector128<byte>[] k = _roundKeys;
            for (int offset = 0; offset + BlockSize <= input.Length; offset += BlockSize)
            {
                Vector128<byte> state = Vector128.Create(input.Slice(offset, BlockSize)) ^ k[0];
                for (int round = 1; round < Rounds; round++)
                {
                    state = X86Aes.Encrypt(state, k[round]);
                }

                X86Aes.EncryptLast(state, k[Rounds]).CopyTo(output.Slice(offset, BlockSize));
            }

            return;
        }

        byte[] inBuffer = _in!, outBuffer = _out!;
        lock (_lock!)
        {
            for (int offset = 0; offset < input.Length; offset += inBuffer.Length)
            {
                int length = Math.Min(inBuffer.Length, input.Length - offset);
                input.Slice(offset, length).CopyTo(inBuffer);
                int n = _transform!.TransformBlock(inBuffer, 0, length, outBuffer, 0);
                outBuffer.AsSpan(0, n).CopyTo(output[offset..]);
            }
        }
    }

    /// <summary>
    /// Counter mode (NIST SP 800-38A §6.5): <paramref name="input"/> xored with the encryption of successive counter
    /// blocks from <paramref name="initialCounter"/>, stepped as the AEAD's RFC says.
    /// </summary>
    public void Ctr(ReadOnlySpan<byte> initialCounter, CounterStep step, ReadOnlySpan<byte> input, Span<byte> output)
    {
        Span<byte> counter = stackalloc byte[BlockSize];
        initialCounter.CopyTo(counter);
        Span<byte> keystream = stackalloc byte[ChunkBlocks * BlockSize];
        for (int offset = 0; offset < input.Length; offset += keystream.Length)
        {
            int length = Math.Min(keystream.Length, input.Length - offset);
            int blocks = (length + BlockSize - 1) / BlockSize;
            Span<byte> stream = keystream[..(blocks * BlockSize)];
            for (int b = 0; b < blocks; b++)
            {
                counter.CopyTo(stream.Slice(b * BlockSize, BlockSize));
                if (step == CounterStep.BigEndian128)
                {
                    BinaryPrimitives.WriteUInt128BigEndian(counter, BinaryPrimitives.ReadUInt128BigEndian(counter) + UInt128.One);
                }
                else
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(counter, unchecked(BinaryPrimitives.ReadUInt32LittleEndian(counter) + 1));
                }
            }

            Encrypt(stream, stream);
            ReadOnlySpan<byte> from = input.Slice(offset, length);
            Span<byte> to = output.Slice(offset, length);
            for (int i = 0; i < length; i++)
            {
                to[i] = (byte)(from[i] ^ stream[i]);
            }
        }

        CryptographicOperations.ZeroMemory(keystream);
        CryptographicOperations.ZeroMemory(counter);
    }

    /// <summary>Zeroes the round keys (the fallback's transform is released), after which the instance needs <see cref="SetKey"/>.</summary>
    public void Forget()
    {
        if (_roundKeys is not null)
        {
            Array.Clear(_roundKeys);
        }
        else
        {
            CryptographicOperations.ZeroMemory(_in);
            CryptographicOperations.ZeroMemory(_out);
            _transform?.Dispose();
            _transform = null;
        }
    }

    public void Dispose() => Forget();

    /// <summary>
    /// FIPS 197 §5.2 for Nk = 4: each round key is the previous one with its words chained by xor, the first also
    /// xored with SubWord(RotWord(last word)) ⊕ Rcon, which AESKEYGENASSIST computes (its round constant must be an immediate).
    /// </summary>
    private static void Expand(ReadOnlySpan<byte> key, Vector128<byte>[] k)
    {
        Vector128<byte> r = Vector128.Create(key);
        k[0] = r;
        k[1] = r = Next(r, X86Aes.KeygenAssist(r, 0x01));
        k[2] = r = Next(r, X86Aes.KeygenAssist(r, 0x02));
        k[3] = r = Next(r, X86Aes.KeygenAssist(r, 0x04));
        k[4] = r = Next(r, X86Aes.KeygenAssist(r, 0x08));
        k[5] = r = Next(r, X86Aes.KeygenAssist(r, 0x10));
        k[6] = r = Next(r, X86Aes.KeygenAssist(r, 0x20));
        k[7] = r = Next(r, X86Aes.KeygenAssist(r, 0x40));
        k[8] = r = Next(r, X86Aes.KeygenAssist(r, 0x80));
        k[9] = r = Next(r, X86Aes.KeygenAssist(r, 0x1B));
        k[10] = Next(r, X86Aes.KeygenAssist(r, 0x36));
    }

    private static Vector128<byte> Next(Vector128<byte> key, Vector128<byte> assist)
    {
        // The assist's last word is SubWord(RotWord(w3)) ⊕ Rcon; broadcast it, then w'i = wi ⊕ w'(i-1) as a prefix xor.
        Vector128<byte> t = X86Sse2.Shuffle(assist.AsUInt32(), 0xFF).AsByte();
        key ^= X86Sse2.ShiftLeftLogical128BitLane(key, 4);
        key ^= X86Sse2.ShiftLeftLogical128BitLane(key, 4);
        key ^= X86Sse2.ShiftLeftLogical128BitLane(key, 4);
        return key ^ t;
    }
}

/// <summary>How a CTR counter block advances.</summary>
internal enum CounterStep
{
    /// <summary>The whole block as a big-endian integer (RFC 5297 §2.5, AES-SIV).</summary>
    BigEndian128,

    /// <summary>The first 32 bits as a little-endian integer, wrapping; the rest fixed (RFC 8452 §4, AES-GCM-SIV).</summary>
    LittleEndian32,
}
