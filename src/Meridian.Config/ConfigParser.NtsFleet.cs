using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Meridian.Config;

public sealed partial class ConfigParser
{
    private static readonly string[] NtsFleetOptions = ["ntpserver", "rotate"];

    /// <summary>
    /// <c>nts ntpserver HOST[:PORT]</c>: a host name, dotted IPv4, or an IPv6 address in brackets (<c>[2001:db8::1]:123</c>),
    /// as RFC 8915 §4.1.7 wants it sent (a host name in A-labels, IPv6 as RFC 5952 writes it, no zone).
    /// </summary>
    private static NtsConfig ParseNtsNtpServer(LineReader line, NtsConfig nts)
    {
        if (line.RequireWord("an NTP server, HOST or HOST:PORT ([IPv6]:PORT)") is not ConfigToken token)
        {
            return nts;
        }

        string text = token.Text;
        string host;
        int portAt;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                line.Error(token, $"'{text}': an IPv6 address in brackets needs its ']'");
                return nts;
            }

            string inside = text[1..close];
            if (inside.Contains('%', StringComparison.Ordinal) || !IPAddress.TryParse(inside, out IPAddress? v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                line.Error(At(token, 1), $"'{inside}' is not an IPv6 address{(inside.Contains('%', StringComparison.Ordinal) ? " that NTS-KE can send (no zone, RFC 8915 §4.1.7)" : "")}");
                return nts;
            }

            host = v6.ToString();
            if (close + 1 < text.Length && text[close + 1] != ':')
            {
                line.Error(At(token, close + 1), $"expected ':PORT' after '{text[..(close + 1)]}', not '{text[(close + 1)..]}'");
                return nts;
            }

            portAt = close + 1 < text.Length ? close + 2 : -1;
        }
        else
        {
            int colon = text.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0 && text.IndexOf(':', colon + 1) >= 0)
            {
                line.Error(token, $"'{text}': an IPv6 address goes in brackets, as [{text}] or [{text}]:123");
                return nts;
            }

            string name = colon < 0 ? text : text[..colon];
            if (NtpServerName(name) is not string ascii)
            {
                line.Error(token, $"'{name}' is not a host name or an IPv4 address");
                return nts;
            }

            host = ascii;
            portAt = colon < 0 ? -1 : colon + 1;
        }

        ushort? port = null;
        if (portAt >= 0)
        {
            string digits = text[portAt..];
            if (!digits.All(char.IsAsciiDigit) || !int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value is < 1 or > 65535)
            {
                line.Error(At(token, portAt), $"the NTP port is 1 to 65535, not '{digits}'");
                return nts;
            }

            port = (ushort)value;
        }

        return nts with { NtpServer = host, NtpPort = port };
    }

    /// <summary><c>nts rotate SECONDS</c>: 0 or more; 0 keeps the keys of the cookie file only (a fleet's follower).</summary>
    private static NtsConfig ParseNtsRotate(LineReader line, ConfigToken option, NtsConfig nts)
    {
        if (line.RequireWord("the seconds between cookie key rotations (0: never)") is not ConfigToken token)
        {
            return nts;
        }

        if (!int.TryParse(token.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int seconds))
        {
            line.Error(token, $"'nts rotate' needs whole seconds (0: never rotate), not '{token.Text}'");
            return nts;
        }

        if (seconds < 0)
        {
            line.Error(token, $"'nts rotate' is 0 (never rotate: the keys come from the cookie file) or more seconds, not {seconds}");
            return nts;
        }

        return nts with { RotateSeconds = seconds, RotateFile = line.File, RotateLine = option.Line, RotateColumn = option.Column };
    }

    /// <summary>After the whole file: <c>nts rotate 0</c> takes its keys from <c>nts cookie FILE</c>, so it needs one.</summary>
    private void CheckNtsFleet()
    {
        NtsConfig nts = _config.Nts;
        if (nts.RotateSeconds == 0 && nts.CookieKeys is null)
        {
            _config.Diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, nts.RotateFile ?? "", nts.RotateLine, nts.RotateColumn,
                "'nts rotate 0' uses the keys of 'nts cookie FILE' only, and there is no 'nts cookie' line"));
        }
    }

    /// <summary>A host name as NTS-KE sends it (A-labels, RFC 5890), or dotted IPv4; null when it is neither.</summary>
    private static string? NtpServerName(string name)
    {
        if (name.Length > 0 && name.All(c => char.IsAsciiDigit(c) || c == '.'))
        {
            // All digits and dots: IPv4 in four parts, nothing looser (IPAddress.TryParse takes "10" and "10.1").
            string[] parts = name.Split('.');
            return parts.Length == 4 && parts.All(p => p.Length is > 0 and <= 3 && int.Parse(p, CultureInfo.InvariantCulture) <= 255) ? name : null;
        }

        string ascii;
        try
        {
            ascii = new IdnMapping().GetAscii(name.TrimEnd('.'));
        }
        catch (ArgumentException)
        {
            return null;
        }

        bool valid = ascii.Length is > 0 and <= 253 && ascii.Split('.').All(label =>
            label.Length is > 0 and <= 63 && label[0] != '-' && label[^1] != '-' && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));
        return valid ? ascii.ToLowerInvariant() : null;
    }

    /// <summary>A diagnostic position <paramref name="offset"/> characters into <paramref name="token"/>.</summary>
    private static ConfigToken At(ConfigToken token, int offset) => token with { Column = token.Column + offset };
}
