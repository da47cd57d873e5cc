using System.Net;
using System.Net.Sockets;

namespace Meridian.Config;

/// <summary>The flags of a <c>restrict</c> line (ntpd 4.2.8 and NTPsec).</summary>
[Flags]
public enum RestrictFlags
{
    None = 0,
    Ignore = 1 << 0,
    Kod = 1 << 1,
    Limited = 1 << 2,
    LowPriorityTrap = 1 << 3,
    NoModify = 1 << 4,
    NoQuery = 1 << 5,
    NoPeer = 1 << 6,
    NoServe = 1 << 7,
    NoTrap = 1 << 8,
    NoTrust = 1 << 9,
    NtpPort = 1 << 10,
    Version = 1 << 11,
    NoMruList = 1 << 12,
    NoEphemeralPeer = 1 << 13,
    MsSntp = 1 << 14,
}

/// <summary>What a <c>restrict</c> line applies to.</summary>
public enum RestrictTarget
{
    /// <summary>An address with a mask (a host when the mask is all ones).</summary>
    Address,

    /// <summary><c>default</c>: every address of the family.</summary>
    Default,

    /// <summary><c>source</c>: the addresses of configured associations, as they are resolved.</summary>
    Source,

    /// <summary>A host name, resolved at start (as ntpd 4.2.8 does).</summary>
    HostName,
}

/// <summary>One <c>restrict</c> or <c>unrestrict</c> line.</summary>
public sealed record RestrictEntry(RestrictTarget Target, int Line)
{
    /// <summary>For <see cref="RestrictTarget.Address"/>; for <see cref="RestrictTarget.Default"/> the family's any-address.</summary>
    public IPAddress? Address { get; init; }

    public IPAddress? Mask { get; init; }

    public string? HostName { get; init; }

    /// <summary>Null for <c>default</c> without <c>-4</c>/<c>-6</c>: both families.</summary>
    public AddressFamily? Family { get; init; }

    public RestrictFlags Flags { get; init; }

    /// <summary><c>unrestrict</c> (NTPsec): the listed flags are removed from the matching entry.</summary>
    public bool Remove { get; init; }

    /// <summary>Prefix length of the mask when it is contiguous (the longest-match order of issue 6), else the count of one bits.</summary>
    public int MaskBits => Mask is null ? 0 : Mask.GetAddressBytes().Sum(b => System.Numerics.BitOperations.PopCount(b));
}

/// <summary>A <c>broadcast</c> or <c>manycastclient</c> line: we send to a group rather than poll one server.</summary>
public sealed record BroadcastConfig(string Address, int Line)
{
    public bool ManycastClient { get; init; }

    public int? Key { get; init; }

    public int Ttl { get; init; } = 1;

    public int Version { get; init; } = 4;

    public int MinPoll { get; init; } = 6;

    public int MaxPoll { get; init; } = 10;

    /// <summary>For <c>manycastclient</c>: options the servers found get (<c>iburst burst prefer noselect true</c>).</summary>
    public bool Iburst { get; init; }

    public bool Burst { get; init; }

    public bool Prefer { get; init; }

    public bool NoSelect { get; init; }

    public bool True { get; init; }
}

/// <summary>A <c>filegen</c> line.</summary>
public sealed record FileGenConfig(string Name, int Line)
{
    public string? File { get; init; }

    /// <summary>none, pid, day, week, month, year, age; null: not given (day, or what a run-time change keeps).</summary>
    public string? Type { get; init; }

    /// <summary>link or nolink; null: not given (link, or what a run-time change keeps).</summary>
    public bool? Link { get; init; }

    public bool? Enable { get; init; }
}
