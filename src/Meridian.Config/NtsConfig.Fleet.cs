namespace Meridian.Config;

/// <summary>
/// The <c>nts</c> options of a fleet (RFC 8915 §4.1.7–§4.1.8 and §6): the NTP server that the NTS-KE response names,
/// and how often the shared cookie keys are rotated (chrony's <c>ntsntpserver</c> and <c>ntsrotate</c>).
/// </summary>
public sealed partial record NtsConfig
{
    /// <summary>The rotation period when <c>nts rotate</c> is not given: daily, as chrony and NTPsec.</summary>
    public const int DefaultRotateSeconds = 86400;

    /// <summary>
    /// <c>ntpserver HOST[:PORT]</c>: the NTP server named in the NTS-KE response (§4.1.7), as it goes on the wire: a
    /// host name in ASCII (A-labels), dotted IPv4, or IPv6 in RFC 5952 form without brackets. Null: this host.
    /// </summary>
    public string? NtpServer { get; init; }

    /// <summary>The port of <c>ntpserver HOST:PORT</c>, sent in the NTPv4 Port Negotiation record (§4.1.8); null: 123.</summary>
    public ushort? NtpPort { get; init; }

    /// <summary><c>rotate SECONDS</c>: the cookie master key's lifetime; 0: never rotate, use the keys of <see cref="CookieKeys"/> only.</summary>
    public int RotateSeconds { get; init; } = DefaultRotateSeconds;

    /// <summary>Where the last <c>rotate</c> stands, for the error when <c>rotate 0</c> has no cookie file to read.</summary>
    public string? RotateFile { get; init; }

    public int RotateLine { get; init; }

    public int RotateColumn { get; init; }

    /// <summary>
    /// A fleet's NTP-only server: <c>enable</c> with neither <c>cert</c> nor <c>key</c>, <c>rotate 0</c> and a
    /// <c>cookie</c> file. It answers NTS-authenticated NTP with the shared keys and runs no NTS-KE (no certificate).
    /// </summary>
    public bool ServesNtpOnly => Enabled && Certificate is null && Key is null && RotateSeconds == 0 && CookieKeys is not null;
}
