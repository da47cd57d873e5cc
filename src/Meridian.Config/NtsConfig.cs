namespace Meridian.Config;

/// <summary>
/// NTPsec's global <c>nts</c> line: the NTS-KE server's certificate and key, the CA for validating NTS-KE servers,
/// the cookie key file, and the TLS and AEAD choices (RFC 8915). Several <c>nts</c> lines add up.
/// </summary>
public sealed partial record NtsConfig
{
    /// <summary><c>nts enable</c>: serve NTS-KE (and NTS-authenticated NTP); needs <see cref="Certificate"/> and <see cref="Key"/>.</summary>
    public bool Enabled { get; init; }

    /// <summary>Where the last <c>enable</c> stands, for the error when the certificate or key is missing.</summary>
    public string? EnableFile { get; init; }

    public int EnableLine { get; init; }

    public int EnableColumn { get; init; }

    /// <summary><c>cert FILE</c>: our certificate chain (PEM).</summary>
    public string? Certificate { get; init; }

    /// <summary><c>key FILE</c>: its private key (PEM).</summary>
    public string? Key { get; init; }

    /// <summary><c>ca LOCATION</c>: a file or hashed directory of CAs that NTS-KE servers are validated against, instead of the system's.</summary>
    public string? CertificateAuthorities { get; init; }

    /// <summary><c>cookie LOCATION</c>: the cookie master keys (shared by the servers of a fleet).</summary>
    public string? CookieKeys { get; init; }

    /// <summary><c>mintls</c>/<c>maxtls</c>: NTS is TLS 1.3 or later (RFC 8915 §3), so only 1.3 is accepted.</summary>
    public string? MinTls { get; init; }

    public string? MaxTls { get; init; }

    public string? TlsCipherSuites { get; init; }

    public string? TlsEcdhCurves { get; init; }

    /// <summary>
    /// <c>nocerttimecheck N</c> (chrony's directive): NTS-KE servers' certificates are accepted outside their validity
    /// dates until the clock has been updated N times, for a machine that starts without a battery-backed clock.
    /// 0, the default, always checks the dates.
    /// </summary>
    public int NoCertTimeCheck { get; init; }

    /// <summary><c>aead NAME</c>: the AEAD offered and preferred, as an IANA AEAD identifier (15 AES-SIV-CMAC-256, 30 AES-128-GCM-SIV).</summary>
    public ushort? Aead { get; init; }
}
