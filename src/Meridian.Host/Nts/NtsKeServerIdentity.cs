using System.Text;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.Security;
using X509Certificate = Org.BouncyCastle.X509.X509Certificate;

namespace Meridian.Host.Nts;

/// <summary>
/// The server's certificate chain and private key as read from PEM files. Kept as one immutable object so that a
/// reload swaps both at once and a connection in progress keeps the pair it started with.
/// </summary>
internal sealed class NtsKeServerIdentity
{
    private NtsKeServerIdentity(IReadOnlyList<X509Certificate> chain, AsymmetricKeyParameter privateKey)
    {
        Chain = chain;
        PrivateKey = privateKey;
    }

    /// <summary>Leaf first, then intermediates, in the order the file gives them.</summary>
    public IReadOnlyList<X509Certificate> Chain { get; }

    public AsymmetricKeyParameter PrivateKey { get; }

    public bool IsRsa => PrivateKey is RsaKeyParameters;

    /// <summary>Bits of the EC key's curve (256 for P-256), 0 for RSA.</summary>
    public int EcFieldBits => PrivateKey is ECPrivateKeyParameters ec ? ec.Parameters.Curve.FieldSize : 0;

    /// <summary>Reads and cross-checks the files.</summary>
    /// <exception cref="InvalidDataException">With the reason, when a file is unreadable, malformed or the key does not match.</exception>
    public static NtsKeServerIdentity Load(string certificateFile, string privateKeyFile)
    {
        var chain = new List<X509Certificate>();
        AsymmetricKeyParameter? key = null;
        try
        {
            foreach (object item in ReadPem(certificateFile))
            {
                if (item is X509Certificate certificate)
                    chain.Add(certificate);
            }

            foreach (object item in ReadPem(privateKeyFile))
            {
                key ??= item switch
                {
                    AsymmetricCipherKeyPair pair => pair.Private,
                    AsymmetricKeyParameter { IsPrivate: true } single => single,
                    _ => null,
                };
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"cannot read the NTS-KE certificate or key: {e.Message}", e);
        }

        if (chain.Count == 0)
            throw new InvalidDataException($"{certificateFile}: no PEM CERTIFICATE found");
        if (key is null)
            throw new InvalidDataException($"{privateKeyFile}: no unencrypted PEM private key found");
        if (key is not (RsaKeyParameters or ECPrivateKeyParameters))
            throw new InvalidDataException($"{privateKeyFile}: only RSA and EC keys are supported");
        if (!KeyMatches(chain[0], key))
            throw new InvalidDataException($"{privateKeyFile}: the private key does not belong to the first certificate of {certificateFile}");
        return new NtsKeServerIdentity(chain, key);
    }

    /// <summary>A trial signature shows the key is the certificate's, catching a mismatched pair at load, not at the first client.</summary>
    private static bool KeyMatches(X509Certificate certificate, AsymmetricKeyParameter key)
    {
        string algorithm = key is RsaKeyParameters ? "SHA-256withRSA" : "SHA-256withECDSA";
        byte[] probe = Encoding.ASCII.GetBytes("meridian nts-ke key check");
        try
        {
            ISigner signer = SignerUtilities.GetSigner(algorithm);
            signer.Init(true, key);
            signer.BlockUpdate(probe, 0, probe.Length);
            byte[] signature = signer.GenerateSignature();
            ISigner verifier = SignerUtilities.GetSigner(algorithm);
            verifier.Init(false, certificate.GetPublicKey());
            verifier.BlockUpdate(probe, 0, probe.Length);
            return verifier.VerifySignature(signature);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return false;
        }
    }

    /// <summary>Every PEM object of a file; bounded by the file's size.</summary>
    internal static List<object> ReadPem(string path)
    {
        string text = File.ReadAllText(path);
        var items = new List<object>();
        using var reader = new PemReader(new StringReader(text));
        for (int i = 0; i < 100_000; i++)
        {
            object? item = reader.ReadObject();
            if (item is null)
                break;
            items.Add(item);
        }

        return items;
    }
}
