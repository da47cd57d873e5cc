using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace Meridian.Engine.Nts;

/// <summary>
/// AEAD_AES_128_GCM_SIV (RFC 8452, IANA AEAD id 30): 16-octet key, 12-octet nonce, ciphertext followed by the
/// 16-octet tag. Offered beside AES-SIV-CMAC because it is faster where AES and carry-less multiply are in hardware.
/// </summary>
/// <remarks>
/// Built on BouncyCastle's <see cref="GcmSivBlockCipher"/>. GCM-SIV derives fresh AES keys from the nonce for every
/// message (RFC 8452 §4), so only the key parameter and the cipher object are kept; the cipher is stateful, so
/// calls are serialised on it.
/// </remarks>
public sealed class AesGcmSiv128 : INtsAead
{
    public const int KeySize = 16;
    public const int NonceSize = 12;
    public const int TagSize = 16;

    private readonly KeyParameter _key;
    private readonly GcmSivBlockCipher _cipher = new();
    private readonly Lock _lock = new();

    public AesGcmSiv128(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"AES-128-GCM-SIV needs a {KeySize}-octet key, not {key.Length}", nameof(key));
        }

        _key = new KeyParameter(key);
    }

    public ushort AeadId => NtsAeadId.AesGcmSiv128;

    public int KeyLength => KeySize;

    public int NonceLength => NonceSize;

    public int Overhead => TagSize;

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
            _cipher.Init(true, new ParametersWithIV(_key, nonce));
            _cipher.ProcessAadBytes(associatedData);
            int written = _cipher.ProcessBytes(plaintext, output);
            written += _cipher.DoFinal(output[written..]);
            return written;
        }
    }

    public bool TryOpen(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext, Span<byte> plaintext, out int written)
    {
        written = 0;
        if (nonce.Length != NonceSize || ciphertext.Length < TagSize || plaintext.Length < ciphertext.Length - TagSize)
        {
            return false;
        }

        lock (_lock)
        {
            try
            {
                _cipher.Init(false, new ParametersWithIV(_key, nonce));
                _cipher.ProcessAadBytes(associatedData);
                int n = _cipher.ProcessBytes(ciphertext, plaintext);
                n += _cipher.DoFinal(plaintext[n..]);
                written = n;
                return true;
            }
            catch (InvalidCipherTextException)
            {
                // RFC 8452 §4: on a tag mismatch nothing of the plaintext may be released.
                CryptographicOperations.ZeroMemory(plaintext[..(ciphertext.Length - TagSize)]);
                return false;
            }
        }
    }

    public void Dispose()
    {
    }
}
