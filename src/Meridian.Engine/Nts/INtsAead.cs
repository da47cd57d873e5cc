namespace Meridian.Engine.Nts;

/// <summary>AEAD algorithm identifiers from the IANA "AEAD Algorithms" registry that NTS negotiates (RFC 8915 §4.1.5).</summary>
public static class NtsAeadId
{
    /// <summary>AEAD_AES_SIV_CMAC_256 (RFC 5297): mandatory to implement for NTS (RFC 8915 §5.1).</summary>
    public const ushort AesSivCmac256 = Meridian.Protocol.Nts.NtsKe.AeadAesSivCmac256;

    /// <summary>AEAD_AES_128_GCM_SIV (RFC 8452).</summary>
    public const ushort AesGcmSiv128 = Meridian.Protocol.Nts.NtsKe.AeadAes128GcmSiv;
}

/// <summary>
/// An AEAD bound to one key, so NTS-KE negotiation, the NTS extension fields and cookies need not know which
/// algorithm was chosen (RFC 8915 §5.6 uses the RFC 5116 interface). The key schedule is made once, at creation.
/// Output follows each algorithm's RFC: AES-SIV puts its 16-octet tag first, AES-GCM-SIV last; either way it is
/// <see cref="Overhead"/> octets longer than the plaintext.
/// </summary>
public interface INtsAead : IDisposable
{
    /// <summary>The IANA AEAD identifier.</summary>
    ushort AeadId { get; }

    /// <summary>Key length in octets, which is also what NTS-KE exports for C2S and S2C (RFC 8915 §5.1).</summary>
    int KeyLength { get; }

    /// <summary>The nonce length to generate. AES-SIV takes any length; AES-GCM-SIV needs exactly 12 octets.</summary>
    int NonceLength { get; }

    /// <summary>Octets the ciphertext has beyond the plaintext (the tag).</summary>
    int Overhead { get; }

    /// <summary>Encrypts <paramref name="plaintext"/> (may be empty) into <paramref name="output"/>; returns the octets written.</summary>
    int Seal(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext, Span<byte> output);

    /// <summary>
    /// Authenticates and decrypts; false, with nothing released, when the tag does not verify or the input is too
    /// short or the nonce of the wrong length. Never throws for hostile input.
    /// </summary>
    bool TryOpen(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext, Span<byte> plaintext, out int written);
}

/// <summary>Creates keyed AEADs by IANA identifier, so that an unknown id is a negotiation outcome, not an exception.</summary>
public static class NtsAead
{
    /// <summary>The AEADs this build supports, in the server's order of preference (RFC 8915 §4.1.5).</summary>
    public static IReadOnlyList<ushort> Supported { get; } = [NtsAeadId.AesSivCmac256, NtsAeadId.AesGcmSiv128];

    public static bool IsSupported(ushort aeadId) => KeyLength(aeadId) is not null;

    /// <summary>The key length of <paramref name="aeadId"/>, or null when unsupported.</summary>
    public static int? KeyLength(ushort aeadId) => aeadId switch
    {
        NtsAeadId.AesSivCmac256 => AesSivCmac256.KeySize,
        NtsAeadId.AesGcmSiv128 => AesGcmSiv128.KeySize,
        _ => null,
    };

    /// <summary>The overhead (tag length) of <paramref name="aeadId"/>, or null when unsupported.</summary>
    public static int? Overhead(ushort aeadId) => aeadId switch
    {
        NtsAeadId.AesSivCmac256 => AesSivCmac256.SivSize,
        NtsAeadId.AesGcmSiv128 => AesGcmSiv128.TagSize,
        _ => null,
    };

    /// <summary>
    /// A keyed instance, or null for an unknown id. A key of the wrong length for a known id is the caller's bug and
    /// throws <see cref="ArgumentException"/>.
    /// </summary>
    public static INtsAead? Create(ushort aeadId, ReadOnlySpan<byte> key) => aeadId switch
    {
        NtsAeadId.AesSivCmac256 => new AesSivCmac256(key),
        NtsAeadId.AesGcmSiv128 => new AesGcmSiv128(key),
        _ => null,
    };
}
