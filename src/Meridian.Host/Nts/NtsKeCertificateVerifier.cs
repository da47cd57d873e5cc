using System.Net;
using System.Net.Sockets;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using X509Certificate = Org.BouncyCastle.X509.X509Certificate;

namespace Meridian.Host.Nts;

/// <summary>
/// Checks an NTS-KE server's certificate the way RFC 8915 §4 asks (RFC 5280 path to a trust anchor, RFC 6125 name
/// check): chain to an anchor, validity dates unless told not to, serverAuth if an EKU is present, and the name
/// against the DNS or IP subjectAltName only (no common-name fallback).
/// </summary>
internal static class NtsKeCertificateVerifier
{
    private const int MaxDepth = 10;

    /// <summary>
    /// Null when acceptable, otherwise the failure and a message naming the certificate. <paramref name="waivedDates"/>
    /// is the date failure that <paramref name="skipDateCheck"/> let through (an expired or not yet valid certificate
    /// in the path), so that the caller can say it accepted one.
    /// </summary>
    public static (NtsKeClientFailure Failure, string Message)? Verify(
        IReadOnlyList<X509Certificate> chain, IReadOnlyList<X509Certificate> anchors, string serverName,
        bool skipDateCheck, DateTime nowUtc, out (NtsKeClientFailure Failure, string Message)? waivedDates)
    {
        waivedDates = null;
        if (chain.Count == 0)
            return (NtsKeClientFailure.BadCertificate, "the server sent no certificate");
        X509Certificate leaf = chain[0];

        // The path: from the leaf up through the certificates the server sent until one is signed by an anchor.
        var path = new List<X509Certificate> { leaf };
        X509Certificate current = leaf;
        X509Certificate? anchor = null;
        for (int depth = 0; depth < MaxDepth && anchor is null; depth++)
        {
            anchor = anchors.FirstOrDefault(a => a.Equals(current))
                     ?? anchors.FirstOrDefault(a => Issued(a, current));
            if (anchor is not null)
                break;
            X509Certificate? next = chain.Skip(1).FirstOrDefault(c => !path.Contains(c) && c.GetBasicConstraints() >= 0 && Issued(c, current));
            if (next is null)
                break;
            path.Add(next);
            current = next;
        }

        if (anchor is null)
            return (NtsKeClientFailure.UnknownCa, $"no trusted CA issued \"{current.IssuerDN}\"'s certificate \"{current.SubjectDN}\"");
        if (!path.Contains(anchor))
            path.Add(anchor);

        if (DateProblem(path, nowUtc) is { } dates)
        {
            if (!skipDateCheck)
                return dates;
            waivedDates = dates;
        }

        IList<DerObjectIdentifier>? usages = leaf.GetExtendedKeyUsage();
        if (usages is not null && !usages.Contains(KeyPurposeID.id_kp_serverAuth) && !usages.Contains(KeyPurposeID.AnyExtendedKeyUsage))
            return (NtsKeClientFailure.BadCertificate, $"certificate \"{leaf.SubjectDN}\" is not for TLS servers (extended key usage)");

        if (!NameMatches(leaf, serverName))
            return (NtsKeClientFailure.NameMismatch, $"certificate \"{leaf.SubjectDN}\" is not for {serverName} (subjectAltName: {string.Join(", ", AltNames(leaf))})");
        return null;
    }

    private static (NtsKeClientFailure Failure, string Message)? DateProblem(List<X509Certificate> path, DateTime nowUtc)
    {
        foreach (X509Certificate certificate in path)
        {
            if (nowUtc < certificate.NotBefore.ToUniversalTime())
                return (NtsKeClientFailure.NotYetValid, $"certificate \"{certificate.SubjectDN}\" is not valid before {certificate.NotBefore.ToUniversalTime():u}");
            if (nowUtc > certificate.NotAfter.ToUniversalTime())
                return (NtsKeClientFailure.Expired, $"certificate \"{certificate.SubjectDN}\" expired {certificate.NotAfter.ToUniversalTime():u}");
        }

        return null;
    }

    private static bool Issued(X509Certificate issuer, X509Certificate subject)
    {
        if (!issuer.SubjectDN.Equivalent(subject.IssuerDN))
            return false;
        try
        {
            return subject.IsSignatureValid(issuer.GetPublicKey());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return false;
        }
    }

    /// <summary>RFC 6125: an IP literal matches an iPAddress SAN, a name a dNSName SAN (left-most "*" label allowed).</summary>
    internal static bool NameMatches(X509Certificate leaf, string serverName)
    {
        GeneralName[] names = leaf.GetSubjectAlternativeNameExtension()?.GetNames() ?? [];
        if (IPAddress.TryParse(serverName, out IPAddress? address))
        {
            byte[] wanted = address.GetAddressBytes();
            return names.Where(n => n.TagNo == GeneralName.IPAddress)
                .Any(n => Asn1OctetString.GetInstance(n.Name).GetOctets().AsSpan().SequenceEqual(wanted));
        }

        string host = serverName.TrimEnd('.');
        return names.Where(n => n.TagNo == GeneralName.DnsName)
            .Any(n => DnsNameMatches(DerIA5String.GetInstance(n.Name).GetString().TrimEnd('.'), host));
    }

    private static bool DnsNameMatches(string pattern, string host)
    {
        if (string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase))
            return true;
        if (!pattern.StartsWith("*.", StringComparison.Ordinal))
            return false;
        int dot = host.IndexOf('.', StringComparison.Ordinal);
        // The wildcard stands for exactly one whole label, and never for the registrable domain alone.
        return dot > 0 && pattern.AsSpan(2).Contains('.')
               && host.AsSpan(dot + 1).Equals(pattern.AsSpan(2), StringComparison.OrdinalIgnoreCase);
    }

    private static IEnumerable<string> AltNames(X509Certificate leaf)
    {
        foreach (GeneralName name in leaf.GetSubjectAlternativeNameExtension()?.GetNames() ?? [])
        {
            if (name.TagNo == GeneralName.DnsName)
                yield return "DNS:" + DerIA5String.GetInstance(name.Name).GetString();
            else if (name.TagNo == GeneralName.IPAddress)
            {
                byte[] octets = Asn1OctetString.GetInstance(name.Name).GetOctets();
                yield return "IP:" + (octets.Length is 4 or 16 ? new IPAddress(octets).ToString() : Convert.ToHexString(octets));
            }
        }
    }

    /// <summary>Whether a host string is an address (no SNI then, RFC 6066 §3).</summary>
    internal static bool IsAddress(string host) =>
        IPAddress.TryParse(host, out IPAddress? a) && a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6;
}
