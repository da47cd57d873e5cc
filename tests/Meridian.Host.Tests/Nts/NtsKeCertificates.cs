using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Meridian.Host.Tests.Nts;

/// <summary>
/// A throw-away PKI for the NTS-KE tests, made with .NET's CertificateRequest so the dates can be in the past:
/// a CA, good RSA and EC server certificates for ntp.test / 127.0.0.1 / ::1, an expired one, one for another name,
/// a self-signed one no one trusts, and a broken PEM file.
/// </summary>
public sealed class NtsKeCertificates : IDisposable
{
    public NtsKeCertificates()
    {
        Directory = Path.Combine(Path.GetTempPath(), "meridian-nts-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        DateTimeOffset now = DateTimeOffset.UtcNow;

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Meridian NTS Test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using X509Certificate2 ca = caRequest.CreateSelfSigned(now.AddDays(-400), now.AddDays(400));
        File.WriteAllText(CaFile, ca.ExportCertificatePem());

        string[] good = ["ntp.test"];
        IPAddress[] goodIps = [IPAddress.Loopback, IPAddress.IPv6Loopback];
        using (RSA rsa = RSA.Create(2048))
            Issue("rsa", "CN=ntp.test RSA", rsa, rsa.ExportRSAPrivateKeyPem(), good, goodIps, now.AddDays(-1), now.AddDays(30), ca, caKey);
        using (var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256))
            Issue("ec", "CN=ntp.test EC", ec, ec.ExportPkcs8PrivateKeyPem(), good, goodIps, now.AddDays(-1), now.AddDays(30), ca, caKey);
        using (var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256))
            Issue("expired", "CN=ntp.test expired", ec, ec.ExportECPrivateKeyPem(), good, goodIps, now.AddDays(-60), now.AddDays(-1), ca, caKey);
        using (var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256))
            Issue("future", "CN=ntp.test future", ec, ec.ExportPkcs8PrivateKeyPem(), good, goodIps, now.AddDays(2), now.AddDays(30), ca, caKey);
        using (var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256))
            Issue("wild", "CN=pool.test wildcard", ec, ec.ExportPkcs8PrivateKeyPem(), ["*.pool.test"], [], now.AddDays(-1), now.AddDays(30), ca, caKey);
        using (var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256))
            Issue("other", "CN=other.test", ec, ec.ExportPkcs8PrivateKeyPem(), ["other.test"], [IPAddress.Parse("127.0.0.2")], now.AddDays(-1), now.AddDays(30), ca, caKey);
        using (var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var request = LeafRequest("CN=ntp.test self-signed", ec, good, goodIps);
            using X509Certificate2 self = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
            File.WriteAllText(CertFile("self"), self.ExportCertificatePem());
            File.WriteAllText(KeyFile("self"), ec.ExportPkcs8PrivateKeyPem());
        }

        File.WriteAllText(BrokenFile, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    }

    public string Directory { get; }

    public string CaFile => Path.Combine(Directory, "ca.pem");

    public string BrokenFile => Path.Combine(Directory, "broken.pem");

    public string CertFile(string name) => Path.Combine(Directory, name + ".pem");

    public string KeyFile(string name) => Path.Combine(Directory, name + ".key");

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // a leftover temp directory is harmless
        }
    }

    private static CertificateRequest LeafRequest(string subject, AsymmetricAlgorithm key, string[] dns, IPAddress[] ips)
    {
        CertificateRequest request = key is RSA rsa
            ? new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest(subject, (ECDsa)key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (string name in dns)
            san.AddDnsName(name);
        foreach (IPAddress ip in ips)
            san.AddIpAddress(ip);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        return request;
    }

    private void Issue(string name, string subject, AsymmetricAlgorithm key, string keyPem, string[] dns, IPAddress[] ips,
        DateTimeOffset notBefore, DateTimeOffset notAfter, X509Certificate2 ca, ECDsa caKey)
    {
        CertificateRequest request = LeafRequest(subject, key, dns, ips);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        byte[] serial = RandomNumberGenerator.GetBytes(8);
        serial[0] &= 0x7f;
        using X509Certificate2 certificate = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), notBefore, notAfter, serial);
        File.WriteAllText(CertFile(name), certificate.ExportCertificatePem());
        File.WriteAllText(KeyFile(name), keyPem);
    }
}
