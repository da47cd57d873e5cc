using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Meridian.Engine.Nts;

/// <summary>
/// AEAD_AES_SIV_CMAC_256 (RFC 5297 §6.1, IANA AEAD id 15), the AEAD every NTS implementation must offer (RFC 8915
/// §5.1). The 32-byte key is two AES-128 keys: K1 for S2V (CMAC), K2 for CTR. Output is the 16-byte synthetic IV
/// followed by the ciphertext. SIV is used because a repeated nonce only reveals that two messages were equal,
/// which matters for a server that seals cookies at a high rate.
/// </summary>
/// <remarks>
/// Each AES key is expanded once per key (<see cref="Aes128"/>), not per call (the span one-shots of
/// <see cref="System.Security.Cryptography.Aes"/> set the key up again, and allocate, every time). With the CPU's AES
/// instructions the instance is lock-free for concurrent sealing and opening, and <see cref="Rekey"/> replaces the key
/// in place, so the server's per-request session AEAD allocates nothing on the managed heap.
/// </remarks>
public sealed class AesSivCmac256 : INtsAead
{
    /// <summary>Key length: K1 ‖ K2 (RFC 5297 §2.2).</summary>
    public const int KeySize = 32;

    /// <summary>The synthetic IV, which is also the tag.</summary>
    public const int SivSize = 16;

    /// <summary>The nonce NTS uses with this AEAD (RFC 8915 §5.6 asks for at least 16 octets).</summary>
    public const int DefaultNonceSize = 16;

    /// <summary>RFC 5297 §7: S2V takes at most 127 components, one of which is the plaintext.</summary>
    public const int MaxAssociatedDataComponents = 126;

    private const int Block = 16;

    private readonly Aes128 _mac;
    private readonly Aes128 _ctr;
    private readonly byte[] _subkey1 = new byte[Block];
    private readonly byte[] _subkey2 = new byte[Block];
    private readonly byte[] _zeroMac = new byte[Block];

    public AesSivCmac256(ReadOnlySpan<byte> key)
    {
        CheckKey(key);
        _mac = new Aes128(key[..Block]);
        _ctr = new Aes128(key[Block..]);
        DeriveSubkeys();
    }

    /// <summary>
    /// Replaces the key, reusing the key schedule's buffers (allocation-free when <see cref="Aes128.Accelerated"/>).
    /// Not while another thread seals or opens with this instance.
    /// </summary>
    public void Rekey(ReadOnlySpan<byte> key)
    {
        CheckKey(key);
        _mac.SetKey(key[..Block]);
        _ctr.SetKey(key[Block..]);
        DeriveSubkeys();
    }

    /// <summary>Zeroes the key schedule and subkeys; the instance needs <see cref="Rekey"/> before further use.</summary>
    public void Forget()
    {
        _mac.Forget();
        _ctr.Forget();
        CryptographicOperations.ZeroMemory(_subkey1);
        CryptographicOperations.ZeroMemory(_subkey2);
        CryptographicOperations.ZeroMemory(_zeroMac);
    }

    private static void CheckKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"AES-SIV-CMAC-256 needs a {KeySize}-octet key, not {key.Length}", nameof(key));
        }
    }

    private void DeriveSubkeys()
    {
        // RFC 4493 §2.3: L = AES(K, 0), K1 = dbl(L), K2 = dbl(K1).
        Span<byte> l = stackalloc byte[Block];
        l.Clear();
        _mac.Encrypt(l, l);
        Double(l, _subkey1);
        Double(_subkey1, _subkey2);
        CryptographicOperations.ZeroMemory(l);

        // RFC 5297 §2.4: S2V starts from CMAC(<zero>), which depends on the key alone.
        ReadOnlySpan<byte> zero = stackalloc byte[Block];
        Cmac(zero, _zeroMac);
    }

    public ushort AeadId => NtsAeadId.AesSivCmac256;

    public int KeyLength => KeySize;

    public int NonceLength => DefaultNonceSize;

    public int Overhead => SivSize;

    /// <summary>
    /// RFC 5116 interface (RFC 5297 §6): S2V over the associated data, then the nonce, then the plaintext — the
    /// order RFC 8915 relies on. An empty <paramref name="associatedData"/> still counts as a component.
    /// </summary>
    public int Seal(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext, Span<byte> output)
    {
        CheckOutput(output, plaintext.Length + SivSize);
        Span<byte> d = stackalloc byte[Block];
        _zeroMac.CopyTo(d);
        Absorb(d, associatedData);
        Absorb(d, nonce);
        Span<byte> siv = output[..SivSize];
        Finish(d, plaintext, siv);
        Ctr(siv, plaintext, output.Slice(SivSize, plaintext.Length));
        return plaintext.Length + SivSize;
    }

    public bool TryOpen(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext, Span<byte> plaintext, out int written)
    {
        written = 0;
        if (ciphertext.Length < SivSize || plaintext.Length < ciphertext.Length - SivSize)
        {
            return false;
        }

        int length = ciphertext.Length - SivSize;
        Span<byte> siv = stackalloc byte[SivSize];
        ciphertext[..SivSize].CopyTo(siv);
        Span<byte> output = plaintext[..length];
        Ctr(siv, ciphertext[SivSize..], output);

        Span<byte> d = stackalloc byte[Block];
        _zeroMac.CopyTo(d);
        Absorb(d, associatedData);
        Absorb(d, nonce);
        Span<byte> expected = stackalloc byte[Block];
        Finish(d, output, expected);
        return Verdict(siv, expected, output, ref written);
    }

    /// <summary>
    /// SIV-encrypt with any number of associated-data components (RFC 5297 §2.6): the deterministic form when
    /// none is a nonce, the nonce-based form when the caller makes the nonce the last one (RFC 5297 §3).
    /// </summary>
    public int Seal(IReadOnlyList<ReadOnlyMemory<byte>> associatedData, ReadOnlySpan<byte> plaintext, Span<byte> output)
    {
        CheckComponents(associatedData);
        CheckOutput(output, plaintext.Length + SivSize);
        Span<byte> d = stackalloc byte[Block];
        _zeroMac.CopyTo(d);
        foreach (ReadOnlyMemory<byte> component in associatedData)
        {
            Absorb(d, component.Span);
        }

        Span<byte> siv = output[..SivSize];
        Finish(d, plaintext, siv);
        Ctr(siv, plaintext, output.Slice(SivSize, plaintext.Length));
        return plaintext.Length + SivSize;
    }

    /// <summary>SIV-decrypt (RFC 5297 §2.7) with any number of associated-data components.</summary>
    public bool TryOpen(IReadOnlyList<ReadOnlyMemory<byte>> associatedData, ReadOnlySpan<byte> ciphertext, Span<byte> plaintext, out int written)
    {
        CheckComponents(associatedData);
        written = 0;
        if (ciphertext.Length < SivSize || plaintext.Length < ciphertext.Length - SivSize)
        {
            return false;
        }

        int length = ciphertext.Length - SivSize;
        Span<byte> siv = stackalloc byte[SivSize];
        ciphertext[..SivSize].CopyTo(siv);
        Span<byte> output = plaintext[..length];
        Ctr(siv, ciphertext[SivSize..], output);

        Span<byte> d = stackalloc byte[Block];
        _zeroMac.CopyTo(d);
        foreach (ReadOnlyMemory<byte> component in associatedData)
        {
            Absorb(d, component.Span);
        }

        Span<byte> expected = stackalloc byte[Block];
        Finish(d, output, expected);
        return Verdict(siv, expected, output, ref written);
    }

    /// <summary>AES-CMAC under K1 (RFC 4493), exposed for its own test vectors.</summary>
    public void Cmac(ReadOnlySpan<byte> message, Span<byte> tag)
    {
        var state = new CmacState(stackalloc byte[Block], stackalloc byte[Block]);
        Update(ref state, message);
        Final(ref state, tag);
    }

    /// <summary>RFC 4493 subkey K1 (for tests against RFC 4493 §4).</summary>
    public ReadOnlySpan<byte> CmacSubkey1 => _subkey1;

    /// <summary>RFC 4493 subkey K2.</summary>
    public ReadOnlySpan<byte> CmacSubkey2 => _subkey2;

    public void Dispose() => Forget();

    private static bool Verdict(ReadOnlySpan<byte> siv, ReadOnlySpan<byte> expected, Span<byte> output, ref int written)
    {
        // RFC 5297 §2.7: release nothing unless the tag matches; the compare does not leak where it differs.
        if (!CryptographicOperations.FixedTimeEquals(siv, expected))
        {
            CryptographicOperations.ZeroMemory(output);
            return false;
        }

        written = output.Length;
        return true;
    }

    private static void CheckOutput(Span<byte> output, int needed)
    {
        if (output.Length < needed)
        {
            throw new ArgumentException($"the output needs {needed} octets, not {output.Length}", nameof(output));
        }
    }

    private static void CheckComponents(IReadOnlyList<ReadOnlyMemory<byte>> associatedData)
    {
        if (associatedData.Count > MaxAssociatedDataComponents)
        {
            throw new ArgumentException($"S2V takes at most {MaxAssociatedDataComponents} associated-data components", nameof(associatedData));
        }
    }

    /// <summary>RFC 5297 §2.4: D = dbl(D) xor CMAC(Si) for each component but the last.</summary>
    private void Absorb(Span<byte> d, ReadOnlySpan<byte> component)
    {
        Span<byte> mac = stackalloc byte[Block];
        Cmac(component, mac);
        Double(d, d);
        Xor(d, mac);
    }

    /// <summary>RFC 5297 §2.4, the last component: xorend when it is a block or longer, else dbl and pad.</summary>
    private void Finish(Span<byte> d, ReadOnlySpan<byte> last, Span<byte> siv)
    {
        var state = new CmacState(stackalloc byte[Block], stackalloc byte[Block]);
        if (last.Length >= Block)
        {
            // T = Sn xorend D: the plaintext's last block xored with D, fed to CMAC without copying the rest.
            Update(ref state, last[..^Block]);
            Span<byte> tail = stackalloc byte[Block];
            last[^Block..].CopyTo(tail);
            Xor(tail, d);
            Update(ref state, tail);
        }
        else
        {
            Span<byte> t = stackalloc byte[Block];
            Double(d, t);
            for (int i = 0; i < last.Length; i++)
            {
                t[i] ^= last[i];
            }

            t[last.Length] ^= 0x80;
            Update(ref state, t);
        }

        Final(ref state, siv);
    }

    /// <summary>
    /// RFC 5297 §2.5: AES-CTR under K2 from Q = V with bits 63 and 31 cleared, so the counter's carry never depends
    /// on the tag in a way that differs between implementations.
    /// </summary>
    private void Ctr(ReadOnlySpan<byte> siv, ReadOnlySpan<byte> input, Span<byte> output)
    {
        Span<byte> q = stackalloc byte[Block];
        UInt128 counter = BinaryPrimitives.ReadUInt128BigEndian(siv);
        BinaryPrimitives.WriteUInt128BigEndian(q, counter & ~((UInt128.One << 63) | (UInt128.One << 31)));
        _ctr.Ctr(q, CounterStep.BigEndian128, input, output);
    }

    /// <summary>A CMAC in progress: the chaining value and the last, possibly partial, block held back.</summary>
    private ref struct CmacState(Span<byte> x, Span<byte> pending)
    {
        public readonly Span<byte> X = x;
        public readonly Span<byte> Pending = pending;
        public int PendingLength;
        public bool Started;

        public void Init()
        {
            X.Clear();
            Pending.Clear();
            PendingLength = 0;
            Started = true;
        }
    }

    /// <summary>
    /// CBC-MAC over everything but the last block, which RFC 4493 §2.4 treats specially, so a block is only
    /// processed once more data follows it.
    /// </summary>
    private void Update(ref CmacState state, ReadOnlySpan<byte> data)
    {
        if (!state.Started)
        {
            state.Init();
        }

        if (data.IsEmpty)
        {
            return;
        }

        if (state.PendingLength > 0 || data.Length <= Block)
        {
            int take = Math.Min(Block - state.PendingLength, data.Length);
            data[..take].CopyTo(state.Pending[state.PendingLength..]);
            state.PendingLength += take;
            data = data[take..];
            if (data.IsEmpty)
            {
                return;
            }

            // The held block is full and more follows: chain it.
            Xor(state.X, state.Pending);
            _mac.Encrypt(state.X, state.X);
            state.PendingLength = 0;
        }

        // Whole blocks, keeping back at least one octet (the last block) for Final.
        int bulk = (data.Length - 1) / Block * Block;
        for (int offset = 0; offset < bulk; offset += Block)
        {
            Xor(state.X, data.Slice(offset, Block));
            _mac.Encrypt(state.X, state.X);
        }

        ReadOnlySpan<byte> rest = data[bulk..];
        rest.CopyTo(state.Pending);
        state.PendingLength = rest.Length;
    }

    /// <summary>RFC 4493 §2.4 steps 3–6: the last block xored with K1 when complete, else padded and xored with K2.</summary>
    private void Final(ref CmacState state, Span<byte> tag)
    {
        if (!state.Started)
        {
            state.Init();
        }

        Span<byte> last = state.Pending;
        if (state.PendingLength == Block)
        {
            Xor(last, _subkey1);
        }
        else
        {
            last[state.PendingLength] = 0x80;
            last[(state.PendingLength + 1)..].Clear();
            Xor(last, _subkey2);
        }

        Xor(state.X, last);
        _mac.Encrypt(state.X, tag);
    }

    /// <summary>Multiplication by x in GF(2^128) (RFC 5297 §2.3, RFC 4493 §2.3): shift left, fold in 0x87.</summary>
    private static void Double(ReadOnlySpan<byte> input, Span<byte> output)
    {
        UInt128 v = BinaryPrimitives.ReadUInt128BigEndian(input);
        UInt128 carry = v >> 127;
        v = (v << 1) ^ (carry * 0x87);
        BinaryPrimitives.WriteUInt128BigEndian(output, v);
    }

    private static void Xor(Span<byte> target, ReadOnlySpan<byte> other)
    {
        for (int i = 0; i < Block; i++)
        {
            target[i] ^= other[i];
        }
    }
}
