using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Meridian.Protocol;

/// <summary>The MAC algorithms of NTP symmetric keys: the legacy digests of RFC 5905 and AES-128-CMAC of RFC 8573.</summary>
public enum MacAlgorithm
{
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    Aes128Cmac,
}

/// <summary>
/// Message authentication codes as ntpd computes them: a digest of key and message (<c>H(key || message)</c>, at
/// most 20 octets, as ntpd truncates), or AES-CMAC of the message under the key. Comparison is constant-time.
/// </summary>
public static class Mac
{
    /// <summary>The algorithm a keys file or ntpq's <c>keytype</c> names (ntpd's and NTPsec's spellings); null if none.</summary>
    public static MacAlgorithm? ParseName(string name) => name.ToUpperInvariant() switch
    {
        "M" or "MD5" => MacAlgorithm.Md5,
        "SHA1" or "SHA" => MacAlgorithm.Sha1,
        "SHA256" => MacAlgorithm.Sha256,
        "SHA384" => MacAlgorithm.Sha384,
        "SHA512" => MacAlgorithm.Sha512,
        "AES128CMAC" or "AES-128-CMAC" or "CMAC" => MacAlgorithm.Aes128Cmac,
        _ => null,
    };

    /// <summary>Octets of the digest on the wire.</summary>
    public static int DigestLength(MacAlgorithm algorithm) => algorithm switch
    {
        MacAlgorithm.Md5 or MacAlgorithm.Aes128Cmac => 16,
        _ => 20,
    };

    public static byte[] Compute(MacAlgorithm algorithm, ReadOnlySpan<byte> key, ReadOnlySpan<byte> message)
    {
        if (algorithm == MacAlgorithm.Aes128Cmac)
        {
            return AesCmac(key, message);
        }

        HashAlgorithmName name = algorithm switch
        {
            MacAlgorithm.Md5 => HashAlgorithmName.MD5,
            MacAlgorithm.Sha1 => HashAlgorithmName.SHA1,
            MacAlgorithm.Sha256 => HashAlgorithmName.SHA256,
            MacAlgorithm.Sha384 => HashAlgorithmName.SHA384,
            _ => HashAlgorithmName.SHA512,
        };
        using var hash = IncrementalHash.CreateHash(name);
        hash.AppendData(key);
        hash.AppendData(message);
        byte[] digest = hash.GetHashAndReset();
        return digest.Length > DigestLength(algorithm) ? digest[..DigestLength(algorithm)] : digest;
    }

    public static bool Verify(MacAlgorithm algorithm, ReadOnlySpan<byte> key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> digest) =>
        digest.Length == DigestLength(algorithm) && CryptographicOperations.FixedTimeEquals(Compute(algorithm, key, message), digest);

    /// <summary>Appends key ID and MAC to <paramref name="message"/> (already padded as the protocol wants).</summary>
    public static byte[] Append(MacAlgorithm algorithm, uint keyId, ReadOnlySpan<byte> key, ReadOnlySpan<byte> message)
    {
        var result = new byte[message.Length + 4 + DigestLength(algorithm)];
        message.CopyTo(result);
        Sign(algorithm, keyId, key, result, message.Length);
        return result;
    }

    /// <summary>
    /// Writes key ID and MAC of the first <paramref name="length"/> octets of <paramref name="buffer"/> right after
    /// them, in place; returns the new length. The buffer must have room for 4 + <see cref="DigestLength"/> more.
    /// </summary>
    public static int Sign(MacAlgorithm algorithm, uint keyId, ReadOnlySpan<byte> key, Span<byte> buffer, int length)
    {
        byte[] digest = Compute(algorithm, key, buffer[..length]);
        BinaryPrimitives.WriteUInt32BigEndian(buffer[length..], keyId);
        digest.CopyTo(buffer[(length + 4)..]);
        return length + 4 + digest.Length;
    }

    /// <summary>AES-CMAC (RFC 4493) with a 128-bit key.</summary>
    public static byte[] AesCmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> message)
    {
        using var aes = Aes.Create();
        aes.Key = key.ToArray();
        Span<byte> zero = stackalloc byte[16];
        zero.Clear();
        byte[] l = aes.EncryptEcb(zero.ToArray(), PaddingMode.None);
        byte[] k1 = Double(l);
        byte[] k2 = Double(k1);
        int blocks = Math.Max(1, (message.Length + 15) / 16);
        bool complete = message.Length > 0 && message.Length % 16 == 0;
        var last = new byte[16];
        int lastStart = (blocks - 1) * 16;
        ReadOnlySpan<byte> tail = message[lastStart..];
        tail.CopyTo(last);
        if (!complete)
        {
            last[tail.Length] = 0x80;
        }

        byte[] subkey = complete ? k1 : k2;
        for (int i = 0; i < 16; i++)
        {
            last[i] ^= subkey[i];
        }

        var x = new byte[16];
        var block = new byte[16];
        for (int b = 0; b < blocks - 1; b++)
        {
            for (int i = 0; i < 16; i++)
            {
                block[i] = (byte)(x[i] ^ message[b * 16 + i]);
            }

            x = aes.EncryptEcb(block, PaddingMode.None);
        }

        for (int i = 0; i < 16; i++)
        {
            block[i] = (byte)(x[i] ^ last[i]);
        }

        return aes.EncryptEcb(block, PaddingMode.None);
    }

    private static byte[] Double(byte[] input)
    {
        var output = new byte[16];
        int carry = 0;
        for (int i = 15; i >= 0; i--)
        {
            output[i] = (byte)((input[i] << 1) | carry);
            carry = input[i] >> 7;
        }

        if ((input[0] & 0x80) != 0)
        {
            output[15] ^= 0x87;
        }

        return output;
    }
}
