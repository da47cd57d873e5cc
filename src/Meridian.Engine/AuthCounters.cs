using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>
/// Counters of symmetric-key work (ntpq's <c>authinfo</c>): key lookups, MACs made and checked, by digest and CMAC
/// kind, and the checks that failed.
/// </summary>
public sealed class AuthCounters
{
    private long _lookups;
    private long _notFound;
    private long _digestEncrypts;
    private long _cmacEncrypts;
    private long _digestDecrypts;
    private long _cmacDecrypts;
    private long _digestFails;
    private long _cmacFails;

    /// <summary>Keys read from the keys file.</summary>
    public int StoredKeys { get; set; }

    public long Lookups => Interlocked.Read(ref _lookups);

    public long NotFound => Interlocked.Read(ref _notFound);

    public long DigestEncrypts => Interlocked.Read(ref _digestEncrypts);

    public long CmacEncrypts => Interlocked.Read(ref _cmacEncrypts);

    public long DigestDecrypts => Interlocked.Read(ref _digestDecrypts);

    public long CmacDecrypts => Interlocked.Read(ref _cmacDecrypts);

    public long DigestFails => Interlocked.Read(ref _digestFails);

    public long CmacFails => Interlocked.Read(ref _cmacFails);

    public void CountLookup(bool found)
    {
        Interlocked.Increment(ref _lookups);
        if (!found)
        {
            Interlocked.Increment(ref _notFound);
        }
    }

    /// <summary>A MAC computed for an outgoing packet.</summary>
    public void CountEncrypt(MacAlgorithm algorithm) =>
        Interlocked.Increment(ref algorithm == MacAlgorithm.Aes128Cmac ? ref _cmacEncrypts : ref _digestEncrypts);

    /// <summary>A MAC checked on an incoming packet, and whether it matched.</summary>
    public void CountDecrypt(MacAlgorithm algorithm, bool good)
    {
        bool cmac = algorithm == MacAlgorithm.Aes128Cmac;
        Interlocked.Increment(ref cmac ? ref _cmacDecrypts : ref _digestDecrypts);
        if (!good)
        {
            Interlocked.Increment(ref cmac ? ref _cmacFails : ref _digestFails);
        }
    }
}
