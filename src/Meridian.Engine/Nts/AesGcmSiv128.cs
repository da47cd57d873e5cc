using System.Buffers.Binary;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;
using X86Pclmulqdq = System.Runtime.Intrinsics.X86.Pclmulqdq;

namespace Meridian.Engine.Nts;

/// <summary>
/// AEAD_AES_128_GCM_SIV (RFC 8452, IANA AEAD id 30): 16-octet key, 12-octet nonce, ciphertext followed by the
/// 16-octet tag. Offered beside AES-SIV-CMAC because it is faster where AES and carry-less multiply are in hardware.
/// </summary>
/// <remarks>
/// GCM-SIV derives fresh AES keys from the nonce for every message (RFC 8452 §4), so the message keys' schedule is
/// rebuilt per call into buffers kept with the instance (<see cref="Aes128"/>) and POLYVAL runs on the stack:
/// sealing, opening and <see cref="Rekey"/> allocate nothing on the managed heap. Those buffers make calls
/// stateful, so they are serialised on the instance.
/// </remarks>
public sealed class AesGcmSiv128 : INtsAead
{
    public const int KeySize = 16;
    public const int NonceSize = 12;
    public const int TagSize = 16;

    private const int Block = 16;

    private readonly Aes128 _keyGenerating;
    private readonly Aes128 _encryption;
    private readonly Lock _lock = new();

    public AesGcmSiv128(ReadOnlySpan<byte> key)
    {
        CheckKey(key);
        _keyGenerating = new Aes128(key);
        _encryption = new Aes128(stackalloc byte[Aes128.KeySize]);
    }

    public ushort AeadId => NtsAeadId.AesGcmSiv128;

    public int KeyLength => KeySize;

    public int NonceLength => NonceSize;

    public int Overhead => TagSize;

    /// <summary>Replaces the key-generating key in place (allocation-free when <see cref="Aes128.Accelerated"/>).</summary>
    public void Rekey(ReadOnlySpan<byte> key)
    {
        CheckKey(key);
        lock (_lock)
        {
            _keyGenerating.SetKey(key);
        }
    }

    /// <summary>Zeroes the key schedules; the instance needs <see cref="Rekey"/> before further use.</summary>
    public void Forget()
    {
        lock (_lock)
        {
            _keyGenerating.Forget();
            _encryption.Forget();
        }
    }

    public int Seal(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext, Span<byte> output)
    {
        if (nonce.Length != NonceSize)
        {
            throw new ArgumentException($"AES-128-GCM-SIV needs a {NonceSize}-octet nonce, not {nonce.Length}", nameof(nonce));
        }

        if (output.Length < plaintext.Length + TagSize)
        {
            throw new ArgumentException($"the output needs {plaintext.Length + TagSize} octets, not {output.Length}", nameof(output));
        }

        lock (_lock)
        {
            Span<byte> authenticationKey = stackalloc byte[Block];
            DeriveKeys(nonce, authenticationKey);
            Span<byte> tag = output.Slice(plaintext.Length, TagSize);
            Tag(authenticationKey, nonce, associatedData, plaintext, tag);
            Ctr(tag, plaintext, output[..plaintext.Length]);
            _encryption.Forget();
            CryptographicOperations.ZeroMemory(authenticationKey);
            return plaintext.Length + TagSize;
        }
    }

    public bool TryOpen(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext, Span<byte> plaintext, out int written)
    {
        written = 0;
        // RFC 8452 §6's limit of 2^36 octets is beyond any span.
        if (nonce.Length != NonceSize || ciphertext.Length < TagSize || plaintext.Length < ciphertext.Length - TagSize)
        {
            return false;
        }

        int length = ciphertext.Length - TagSize;
        lock (_lock)
        {
            Span<byte> authenticationKey = stackalloc byte[Block];
            Span<byte> tag = stackalloc byte[TagSize];
            Span<byte> expected = stackalloc byte[TagSize];
            ciphertext[length..].CopyTo(tag);
            DeriveKeys(nonce, authenticationKey);
            Span<byte> output = plaintext[..length];
            Ctr(tag, ciphertext[..length], output);
            Tag(authenticationKey, nonce, associatedData, output, expected);
            _encryption.Forget();
            CryptographicOperations.ZeroMemory(authenticationKey);

            // RFC 8452 §5: release nothing of the plaintext unless the tag matches, compared in constant time.
            if (!CryptographicOperations.FixedTimeEquals(tag, expected))
            {
                CryptographicOperations.ZeroMemory(output);
                return false;
            }

            written = length;
            return true;
        }
    }

    public void Dispose()
    {
        _keyGenerating.Dispose();
        _encryption.Dispose();
    }

    private static void CheckKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"AES-128-GCM-SIV needs a {KeySize}-octet key, not {key.Length}", nameof(key));
        }
    }

    /// <summary>
    /// RFC 8452 §4: the first half of AES(K, LE32(i) ‖ nonce) for i = 0, 1 is the POLYVAL key, for i = 2, 3 the
    /// message's AES key, which goes into <see cref="_encryption"/>.
    /// </summary>
    private void DeriveKeys(ReadOnlySpan<byte> nonce, Span<byte> authenticationKey)
    {
        Span<byte> blocks = stackalloc byte[4 * Block];
        for (int i = 0; i < 4; i++)
        {
            Span<byte> block = blocks.Slice(i * Block, Block);
            BinaryPrimitives.WriteUInt32LittleEndian(block, (uint)i);
            nonce.CopyTo(block[4..]);
        }

        _keyGenerating.Encrypt(blocks, blocks);
        Span<byte> encryptionKey = stackalloc byte[Aes128.KeySize];
        blocks[..8].CopyTo(authenticationKey);
        blocks.Slice(Block, 8).CopyTo(authenticationKey[8..]);
        blocks.Slice(2 * Block, 8).CopyTo(encryptionKey);
        blocks.Slice(3 * Block, 8).CopyTo(encryptionKey[8..]);
        _encryption.SetKey(encryptionKey);
        CryptographicOperations.ZeroMemory(encryptionKey);
        CryptographicOperations.ZeroMemory(blocks);
    }

    /// <summary>
    /// RFC 8452 §4: S = POLYVAL(H, AD padded, plaintext padded, LE64(AD bits) ‖ LE64(plaintext bits)), xored with
    /// the nonce, its top bit cleared, then encrypted under the message key.
    /// </summary>
    private void Tag(ReadOnlySpan<byte> authenticationKey, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext, Span<byte> tag)
    {
        UInt128 h = BinaryPrimitives.ReadUInt128LittleEndian(authenticationKey);
        UInt128 s = Polyval.Absorb(h, UInt128.Zero, associatedData);
        s = Polyval.Absorb(h, s, plaintext);
        Span<byte> lengths = stackalloc byte[Block];
        BinaryPrimitives.WriteUInt64LittleEndian(lengths, (ulong)associatedData.Length * 8);
        BinaryPrimitives.WriteUInt64LittleEndian(lengths[8..], (ulong)plaintext.Length * 8);
        s = Polyval.Absorb(h, s, lengths);

        BinaryPrimitives.WriteUInt128LittleEndian(tag, s);
        for (int i = 0; i < NonceSize; i++)
        {
            tag[i] ^= nonce[i];
        }

        tag[15] &= 0x7F;
        _encryption.Encrypt(tag, tag);
    }

    /// <summary>RFC 8452 §4: CTR from the tag with its top bit set, the first 32 bits a little-endian counter that wraps.</summary>
    private void Ctr(ReadOnlySpan<byte> tag, ReadOnlySpan<byte> input, Span<byte> output)
    {
        Span<byte> counter = stackalloc byte[Block];
        tag.CopyTo(counter);
        counter[15] |= 0x80;
        _encryption.Ctr(counter, CounterStep.LittleEndian32, input, output);
    }
}

/// <summary>
/// POLYVAL (RFC 8452 §3): S_j = dot(S_(j-1) ⊕ X_j, H) over 16-octet little-endian blocks, where
/// dot(a, b) = a·b·x^-128 in GF(2^128) modulo x^128 + x^127 + x^126 + x^121 + 1.
/// </summary>
internal static class Polyval
{
    /// <summary>Absorbs <paramref name="data"/>, its last block padded with zeros (RFC 8452 §4), into <paramref name="s"/>.</summary>
    public static UInt128 Absorb(UInt128 h, UInt128 s, ReadOnlySpan<byte> data)
    {
        Span<byte> last = stackalloc byte[16];
        int whole = data.Length / 16 * 16;
        for (int offset = 0; offset < whole; offset += 16)
        {
            s = Dot(s ^ BinaryPrimitives.ReadUInt128LittleEndian(data.Slice(offset, 16)), h);
        }

        if (whole < data.Length)
        {
            last.Clear();
            data[whole..].CopyTo(last);
            s = Dot(s ^ BinaryPrimitives.ReadUInt128LittleEndian(last), h);
            last.Clear();
        }

        return s;
    }

    /// <summary>dot(a, b), with carry-less multiply where the CPU has it.</summary>
    public static UInt128 Dot(UInt128 a, UInt128 b) => X86Pclmulqdq.IsSupported ? DotClmul(a, b) : DotPortable(a, b);

    /// <summary>
    /// The 256-bit carry-less product, then Montgomery reduction by x^128 in two 64-bit steps: each adds the multiple
    /// of the polynomial (whose low 64 bits are just 1) that clears the lowest remaining 64 bits, using
    /// (x^63 + x^62 + x^57) = 0xC200000000000000 for the polynomial's middle terms.
    /// </summary>
    internal static UInt128 DotClmul(UInt128 a, UInt128 b)
    {
        Vector128<ulong> x = Vector128.Create((ulong)a, (ulong)(a >> 64));
        Vector128<ulong> y = Vector128.Create((ulong)b, (ulong)(b >> 64));
        Vector128<ulong> lo = X86Pclmulqdq.CarrylessMultiply(x, y, 0x00);
        Vector128<ulong> hi = X86Pclmulqdq.CarrylessMultiply(x, y, 0x11);
        Vector128<ulong> mid = X86Pclmulqdq.CarrylessMultiply(x, y, 0x01) ^ X86Pclmulqdq.CarrylessMultiply(x, y, 0x10);
        ulong t0 = lo.GetElement(0), t1 = lo.GetElement(1) ^ mid.GetElement(0), t2 = hi.GetElement(0) ^ mid.GetElement(1), t3 = hi.GetElement(1);

        Vector128<ulong> poly = Vector128.Create(0xC200000000000000UL, 0);
        Vector128<ulong> m = X86Pclmulqdq.CarrylessMultiply(Vector128.Create(t0, 0), poly, 0x00);
        t1 ^= m.GetElement(0);
        t2 ^= m.GetElement(1) ^ t0;
        m = X86Pclmulqdq.CarrylessMultiply(Vector128.Create(t1, 0), poly, 0x00);
        t2 ^= m.GetElement(0);
        t3 ^= m.GetElement(1) ^ t1;
        return new UInt128(t3, t2);
    }

    /// <summary>
    /// Bit by bit, without branches on the data: for each bit of b from the lowest, add a when it is set, then
    /// multiply by x^-1 (add the polynomial when the constant term is set, shift right), 128 times.
    /// </summary>
    internal static UInt128 DotPortable(UInt128 a, UInt128 b)
    {
        ulong a0 = (ulong)a, a1 = (ulong)(a >> 64), b0 = (ulong)b, b1 = (ulong)(b >> 64);
        ulong r0 = 0, r1 = 0;
        for (int i = 0; i < 128; i++)
        {
            ulong bit = i < 64 ? (b0 >> i) & 1 : (b1 >> (i - 64)) & 1;
            ulong take = 0UL - bit;
            r0 ^= a0 & take;
            r1 ^= a1 & take;
            ulong fold = 0UL - (r0 & 1);
            r0 = (r0 >> 1) | (r1 << 63);
            r1 = (r1 >> 1) ^ (fold & 0xE100000000000000UL);
        }

        return new UInt128(r1, r0);
    }
}
