namespace Meridian.Config;

public sealed partial class ConfigParser
{
    /// <summary>
    /// The AEAD names of <c>nts aead</c>: NTPsec's spellings, RFC 5116's, and the IANA numbers (RFC 8915 §5.1).
    /// NTPsec also names AES_SIV_CMAC_384 and _512, which no NTS implementation negotiates; they are refused by name.
    /// </summary>
    internal static readonly Dictionary<string, ushort> NtsAeadNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["AES_SIV_CMAC_256"] = 15, ["AEAD_AES_SIV_CMAC_256"] = 15, ["15"] = 15,
        ["AES_128_GCM_SIV"] = 30, ["AEAD_AES_128_GCM_SIV"] = 30, ["30"] = 30,
    };

    private static readonly string[] NtsOptions = ["enable", "disable", "cert", "key", "ca", "cookie", "mintls", "maxtls", "tlsciphersuites", "tlsecdhcurves", "aead", "nocerttimecheck"];

    /// <summary>The first option of the NTS server's (cert, key, cookie, ntpserver, rotate), for the warning when <c>nts enable</c> never comes.</summary>
    private (string File, ConfigToken At)? _ntsServerOption;

    /// <summary><c>nts [enable|disable] [cert F] [key F] [ca L] [cookie L] [mintls V] [maxtls V] [tlsciphersuites S] [tlsecdhcurves S] [aead NAME] [nocerttimecheck N]</c>.</summary>
    private void ParseNts(LineReader line)
    {
        NtsConfig nts = _config.Nts;
        while (line.Next() is ConfigToken option)
        {
            string word = option.Text.ToLowerInvariant();
            if (word is "cert" or "key" or "cookie" or "ntpserver" or "rotate")
            {
                _ntsServerOption ??= (line.File, option);
            }

            switch (word)
            {
                case "enable":
                    nts = nts with { Enabled = true, EnableFile = line.File, EnableLine = option.Line, EnableColumn = option.Column };
                    break;
                case "disable":
                    nts = nts with { Enabled = false };
                    break;
                case "cert":
                    nts = nts with { Certificate = line.RequireWord("a PEM certificate file")?.Text ?? nts.Certificate };
                    break;
                case "key":
                    nts = nts with { Key = line.RequireWord("a PEM private key file")?.Text ?? nts.Key };
                    break;
                case "ca":
                    nts = nts with { CertificateAuthorities = line.RequireWord("a CA file or directory")?.Text ?? nts.CertificateAuthorities };
                    break;
                case "cookie":
                    nts = nts with { CookieKeys = line.RequireWord("a cookie key file")?.Text ?? nts.CookieKeys };
                    break;
                case "ntpserver":
                    nts = ParseNtsNtpServer(line, nts);
                    break;
                case "rotate":
                    nts = ParseNtsRotate(line, option, nts);
                    break;
                case "mintls" or "maxtls":
                    line.NotInEffect(option, "nts " + word, "NTS-KE always runs TLS 1.3 (RFC 8915 §3)");
                    if (line.RequireWord("a TLS version such as 1.3") is ConfigToken version)
                    {
                        if (!IsTls13(version.Text))
                        {
                            line.Error(version, $"NTS runs over TLS 1.3 or later only (RFC 8915 §3), not '{version.Text}'");
                        }
                        else
                        {
                            nts = word == "mintls" ? nts with { MinTls = version.Text } : nts with { MaxTls = version.Text };
                        }
                    }

                    break;
                case "tlsciphersuites":
                    line.NotInEffect(option, "nts " + word, "the TLS library's TLS 1.3 cipher suites are used");
                    nts = nts with { TlsCipherSuites = line.RequireWord("a TLS 1.3 cipher suite list")?.Text ?? nts.TlsCipherSuites };
                    break;
                case "tlsecdhcurves":
                    line.NotInEffect(option, "nts " + word, "the TLS library's key exchange groups are used");
                    nts = nts with { TlsEcdhCurves = line.RequireWord("a list of ECDH curves")?.Text ?? nts.TlsEcdhCurves };
                    break;
                case "aead":
                    if (ReadAead(line) is ushort aead)
                    {
                        nts = nts with { Aead = aead };
                    }

                    break;
                case "nocerttimecheck":
                    if (line.Integer(option, 0, int.MaxValue) is int updates)
                    {
                        nts = nts with { NoCertTimeCheck = updates };
                        if (updates > 0)
                        {
                            line.Warn(option, $"NTS-KE certificates are accepted outside their validity dates until the clock has been updated {updates} time(s): an expired or stolen certificate can set the clock until then");
                        }
                    }

                    break;
                default:
                    // What follows an unknown option cannot be told apart from its argument: the rest is not read.
                    line.Error(option, Unknown("unknown nts option ", option.Text, word, [.. NtsOptions, .. NtsFleetOptions]));
                    line.SkipRest();
                    break;
            }
        }

        _config.Nts = nts;
    }

    private static bool IsTls13(string text)
    {
        string version = text.StartsWith("TLSv", StringComparison.OrdinalIgnoreCase) ? text[4..] : text;
        return version is "1.3";
    }

    /// <summary>After the whole file: <c>nts enable</c> needs a certificate and its key.</summary>
    private void CheckNts()
    {
        NtsConfig nts = _config.Nts;
        if (!nts.Enabled && _ntsServerOption is (string file, ConfigToken at))
        {
            _config.Diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Warning, file, at.Line, at.Column,
                $"'nts {at.Text.ToLowerInvariant()}' is read and checked but not in effect: it configures the NTS server, which runs only with 'nts enable'") { NotInEffect = true });
        }

        CheckNtsFleet();
        if (nts.Enabled && (nts.Certificate is null || nts.Key is null) && !nts.ServesNtpOnly)
        {
            _config.Diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, nts.EnableFile ?? "", nts.EnableLine, nts.EnableColumn,
                $"'nts enable' needs 'nts cert FILE' and 'nts key FILE' (missing: {string.Join(" and ", new[] { nts.Certificate is null ? "cert" : null, nts.Key is null ? "key" : null }.OfType<string>())})"));
        }
    }

    /// <summary>The AEAD after <c>aead</c> (of <c>nts</c> or of a server line), by name or IANA number; null after an error at its column.</summary>
    private static ushort? ReadAead(LineReader line)
    {
        if (line.RequireWord("AES_SIV_CMAC_256 or AES_128_GCM_SIV") is not ConfigToken aead)
        {
            return null;
        }

        if (NtsAeadNames.TryGetValue(aead.Text, out ushort id))
        {
            return id;
        }

        line.Error(aead, Unknown("unknown NTS AEAD ", aead.Text, aead.Text.ToUpperInvariant(), ["AES_SIV_CMAC_256", "AES_128_GCM_SIV"])
            + "; AES_SIV_CMAC_256 (15) and AES_128_GCM_SIV (30) are the AEADs NTS negotiates");
        return null;
    }
}
