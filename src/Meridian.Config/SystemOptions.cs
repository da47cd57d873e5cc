using System.Net;
using System.Net.Sockets;

namespace Meridian.Config;

/// <summary><c>tos</c>: the mitigation limits, with ntpd 4.2.8's defaults.</summary>
public sealed record TosOptions
{
    public int MinClock { get; init; } = 3;

    public int MaxClock { get; init; } = 10;

    public int MinSane { get; init; } = 1;

    /// <summary>The orphan stratum; 16 (the default) leaves orphan mode off.</summary>
    public int Orphan { get; init; } = 16;

    /// <summary>Seconds without a source before a host becomes an orphan parent.</summary>
    public double OrphanWait { get; init; } = 300;

    public double MinDistance { get; init; } = 0.001;

    public double MaxDistance { get; init; } = 1.5;

    public int Beacon { get; init; } = 3600;

    public int Ceiling { get; init; } = 15;

    public int Floor { get; init; } = 1;

    public bool Cohort { get; init; }

    public int BroadcastPollBackStep { get; init; }

    /// <summary>NTPsec's <c>maxdisp</c>, seconds.</summary>
    public double MaxDispersion { get; init; } = 16;

    /// <summary><c>basedate YYYY-MM-DD</c>: the earliest date the clock can be (the era of 32-bit timestamps).</summary>
    public DateOnly? BaseDate { get; init; }
}

/// <summary><c>tinker</c>: the discipline's thresholds, with ntpd 4.2.8's defaults.</summary>
public sealed record TinkerOptions
{
    public const double DefaultStep = 0.128;

    /// <summary>The step threshold with <c>-x</c> and no <c>tinker step</c>.</summary>
    public const double SlewMostlyStep = 600;

    /// <summary>Seconds; null when not written (then 0.128 s, or 600 s with <c>-x</c>).</summary>
    public double? Step { get; init; }

    public double StepOut { get; init; } = 300;

    /// <summary>Seconds; 0 turns the panic check off (seed 000).</summary>
    public double Panic { get; init; } = 1000;

    /// <summary>log2 s (ntpd's CLOCK_ALLAN, 2048 s).</summary>
    public double Allan { get; init; } = 11;

    /// <summary>The dispersion growth rate, PPM (RFC 5905's PHI, 15 PPM).</summary>
    public double Dispersion { get; init; } = 15;

    /// <summary>The initial frequency, PPM, when there is no drift file.</summary>
    public double? Frequency { get; init; }

    public double? HuffPuff { get; init; }

    public double? StepBack { get; init; }

    public double? StepForward { get; init; }

    public double? Tick { get; init; }

    /// <summary>The step threshold in effect: <see cref="Step"/>, else the default for <c>-x</c> or without it.</summary>
    public double StepThreshold(bool slewMostly) => Step ?? (slewMostly ? SlewMostlyStep : DefaultStep);
}

/// <summary><c>discard</c>: the rate limits of <c>restrict ... limited</c>, with ntpd's defaults.</summary>
public sealed record DiscardOptions
{
    /// <summary>log2 of the average interval allowed, seconds (3: 8 s).</summary>
    public int Average { get; init; } = 3;

    /// <summary>The least interval between two packets, seconds.</summary>
    public double Minimum { get; init; } = 2;

    /// <summary>ntpd's replacement probability factor of the MRU list.</summary>
    public double Monitor { get; init; } = 3000;
}

/// <summary><c>mru</c>: the bounds of the MRU list.</summary>
public sealed record MruOptions
{
    /// <summary>Entries at most (8192, about 1.3 MB).</summary>
    public int MaxDepth { get; init; } = 8192;

    /// <summary>KiB at most, when written: it bounds the depth too.</summary>
    public double? MaxMemory { get; init; }

    /// <summary>Entries kept however old they are.</summary>
    public int MinDepth { get; init; } = 600;

    /// <summary>Above mindepth, entries not heard for this many seconds are reused first.</summary>
    public double MaxAge { get; init; } = 3600;

    public double? MinAge { get; init; }

    public double? InitialAllocation { get; init; }

    public double? IncrementAllocation { get; init; }
}

/// <summary>The system flags of <c>enable</c>/<c>disable</c>, with ntpd's defaults.</summary>
public sealed record SystemFlagOptions
{
    public bool Auth { get; init; } = true;

    public bool BroadcastClient { get; init; }

    public bool Calibrate { get; init; }

    public bool Kernel { get; init; } = true;

    public bool Monitor { get; init; } = true;

    public bool Ntp { get; init; } = true;

    public bool Stats { get; init; } = true;

    public bool Mode7 { get; init; }

    public bool Pps { get; init; }

    /// <summary>The flag called <paramref name="name"/> (ntpd's word), or null for the ones not kept here.</summary>
    public bool? this[string name] => name switch
    {
        "auth" => Auth,
        "bclient" => BroadcastClient,
        "calibrate" => Calibrate,
        "kernel" => Kernel,
        "monitor" => Monitor,
        "ntp" => Ntp,
        "stats" => Stats,
        "mode7" => Mode7,
        "pps" => Pps,
        _ => null,
    };

    /// <summary>These flags with <paramref name="name"/> set to <paramref name="value"/> (unknown names leave them as they are).</summary>
    public SystemFlagOptions With(string name, bool value) => name switch
    {
        "auth" => this with { Auth = value },
        "bclient" => this with { BroadcastClient = value },
        "calibrate" => this with { Calibrate = value },
        "kernel" => this with { Kernel = value },
        "monitor" => this with { Monitor = value },
        "ntp" => this with { Ntp = value },
        "stats" => this with { Stats = value },
        "mode7" => this with { Mode7 = value },
        "pps" => this with { Pps = value },
        _ => this,
    };
}

/// <summary>What an <c>interface</c> rule does with the addresses it matches.</summary>
public enum InterfaceAction
{
    Listen,

    /// <summary>No socket at all.</summary>
    Ignore,

    /// <summary>ntpd opens the socket and drops what arrives; here, as for ignore, no socket.</summary>
    Drop,
}

/// <summary>
/// One <c>interface</c> (or <c>nic</c>) line: an action and what it matches: <c>all</c>, <c>ipv4</c>, <c>ipv6</c>,
/// <c>wildcard</c>, an interface name, or an address with an optional prefix length.
/// </summary>
public sealed record InterfaceRule(InterfaceAction Action, string Target, int Line)
{
    /// <summary>The address of an address rule (null for the other kinds).</summary>
    public IPAddress? Address { get; init; }

    /// <summary>Prefix length of an address rule (the whole address without '/').</summary>
    public int PrefixLength { get; init; }

    /// <summary>
    /// Whether the rule matches address <paramref name="address"/> of interface <paramref name="interfaceName"/>
    /// (ntpd's rule: <c>all</c> matches every address but loopback and the wildcard).
    /// </summary>
    public bool Matches(string interfaceName, IPAddress address, bool loopback)
    {
        ArgumentNullException.ThrowIfNull(address);
        bool wildcard = address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);
        return Target.ToLowerInvariant() switch
        {
            "all" => !loopback && !wildcard,
            "ipv4" => address.AddressFamily == AddressFamily.InterNetwork && !wildcard,
            "ipv6" => address.AddressFamily == AddressFamily.InterNetworkV6 && !wildcard,
            "wildcard" => wildcard,
            _ when Address is not null => InPrefix(address),
            _ => string.Equals(Target, interfaceName, StringComparison.Ordinal),
        };
    }

    private bool InPrefix(IPAddress address)
    {
        if (address.AddressFamily != Address!.AddressFamily)
        {
            return false;
        }

        byte[] a = address.GetAddressBytes();
        byte[] b = Address.GetAddressBytes();
        for (int bit = 0; bit < PrefixLength; bit++)
        {
            int mask = 0x80 >> (bit % 8);
            if ((a[bit / 8] & mask) != (b[bit / 8] & mask))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// What the rules decide for an address: the last rule that matches, as in ntpd; an address no rule matches is
    /// listened on.
    /// </summary>
    public static InterfaceAction Decide(IReadOnlyList<InterfaceRule> rules, string interfaceName, IPAddress address, bool loopback)
    {
        ArgumentNullException.ThrowIfNull(rules);
        for (int i = rules.Count - 1; i >= 0; i--)
        {
            if (rules[i].Matches(interfaceName, address, loopback))
            {
                return rules[i].Action;
            }
        }

        return InterfaceAction.Listen;
    }
}
