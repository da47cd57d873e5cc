namespace Meridian.Protocol;

/// <summary>
/// Kiss-o'-Death codes (RFC 5905 §7.4): a server that sends stratum 0 puts a four-letter code in the reference ID to
/// tell the client why. The client's reaction depends on the code, so each one is classified here.
/// </summary>
public static class KissCode
{
    public static readonly ReferenceId Acst = ReferenceId.FromAscii("ACST");
    public static readonly ReferenceId Auth = ReferenceId.FromAscii("AUTH");
    public static readonly ReferenceId Auto = ReferenceId.FromAscii("AUTO");
    public static readonly ReferenceId Bcst = ReferenceId.FromAscii("BCST");
    public static readonly ReferenceId Cryp = ReferenceId.FromAscii("CRYP");
    public static readonly ReferenceId Deny = ReferenceId.FromAscii("DENY");
    public static readonly ReferenceId Drop = ReferenceId.FromAscii("DROP");
    public static readonly ReferenceId Rstr = ReferenceId.FromAscii("RSTR");
    public static readonly ReferenceId Init = ReferenceId.FromAscii("INIT");
    public static readonly ReferenceId Mcst = ReferenceId.FromAscii("MCST");
    public static readonly ReferenceId Nkey = ReferenceId.FromAscii("NKEY");
    public static readonly ReferenceId Ntsn = ReferenceId.FromAscii("NTSN");
    public static readonly ReferenceId Rate = ReferenceId.FromAscii("RATE");
    public static readonly ReferenceId Rmot = ReferenceId.FromAscii("RMOT");
    public static readonly ReferenceId Step = ReferenceId.FromAscii("STEP");

    /// <summary>True when a server packet is a kiss: stratum 0 from a server or symmetric peer.</summary>
    public static bool IsKissOfDeath(in NtpHeader header) =>
        header.Stratum == 0 && header.Mode is NtpMode.Server or NtpMode.SymmetricPassive or NtpMode.SymmetricActive or NtpMode.Broadcast;

    /// <summary>
    /// INIT and STEP come from servers that are merely not synchronized (yet, or again); they say nothing about the
    /// client and are not reasons to stop polling.
    /// </summary>
    public static bool MeansUnsynchronized(ReferenceId code) => code == Init || code == Step;

    /// <summary>DENY and RSTR: the server refuses us; stop using it (RFC 5905 §7.4).</summary>
    public static bool MeansStop(ReferenceId code) => code == Deny || code == Rstr;

    /// <summary>RATE: the server asks us to poll less often.</summary>
    public static bool MeansSlowDown(ReferenceId code) => code == Rate;

    /// <summary>What the code means, for logs and <c>-d</c> output.</summary>
    public static string Describe(ReferenceId code) => code.ToAscii() switch
    {
        "ACST" => "the association belongs to a unicast server",
        "AUTH" => "server authentication failed",
        "AUTO" => "Autokey sequence failed",
        "BCST" => "the association belongs to a broadcast server",
        "CRYP" => "cryptographic authentication or identification failed",
        "DENY" => "access denied by remote server",
        "DROP" => "lost peer in symmetric mode",
        "RSTR" => "access denied due to local policy",
        "INIT" => "the association has not yet synchronized for the first time",
        "MCST" => "the association belongs to a dynamically discovered server",
        "NKEY" => "no key found",
        "NTSN" => "NTS negative acknowledgement",
        "RATE" => "rate exceeded",
        "RMOT" => "alteration of association from a remote host running ntpdc",
        "STEP" => "a step change in system time has occurred, but the association has not yet resynchronized",
        var other => $"unknown kiss code '{other}'",
    };
}
