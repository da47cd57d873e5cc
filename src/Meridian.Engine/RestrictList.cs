using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Meridian.Engine;

/// <summary>
/// What a <c>restrict</c> entry denies (the engine's view of ntp.conf's flags). The values are ntpd's <c>RES_*</c>
/// bits, which mode 6 reports in the MRU list's <c>rs</c> field.
/// </summary>
[Flags]
public enum AccessFlags
{
    None = 0,

    /// <summary>Drop every packet.</summary>
    Ignore = 0x0001,

    /// <summary>No time service (mode 6 still answered unless noquery).</summary>
    NoServe = 0x0002,

    /// <summary>Unauthenticated packets are not trusted: no time service to them, no time from them.</summary>
    NoTrust = 0x0004,

    /// <summary>Only the current protocol version (4) is served.</summary>
    Version = 0x0008,

    /// <summary>No ephemeral symmetric passive association for this address.</summary>
    NoPeer = 0x0010,

    /// <summary>Rate limited (<c>discard</c>): over the limit, no answer (or a RATE kiss with <c>kod</c>).</summary>
    Limited = 0x0020,

    /// <summary>No mode 6 answer at all.</summary>
    NoQuery = 0x0040,

    /// <summary>Mode 6 writes and <c>:config</c> refused even when authenticated.</summary>
    NoModify = 0x0080,

    /// <summary>No mode 6 traps (Meridian sets none, so this holds by construction).</summary>
    NoTrap = 0x0100,

    LowPriorityTrap = 0x0200,

    /// <summary>Send a kiss-o'-death when a request is refused (rate-limited itself).</summary>
    Kod = 0x0400,
}

/// <summary>
/// One entry: an address and mask of one family, and its flags. <paramref name="NtpPortOnly"/> (<c>ntpport</c>)
/// makes the entry match only packets from source port 123.
/// </summary>
public sealed record AccessEntry(IPAddress Address, IPAddress Mask, AccessFlags Flags, bool NtpPortOnly = false)
{
    public int MaskBits { get; } = Mask.GetAddressBytes().Sum(b => System.Numerics.BitOperations.PopCount(b));

    internal UInt128 AddressBits { get; } = Bits(Address);

    internal UInt128 MaskValue { get; } = Bits(Mask);

    internal bool IPv6 { get; } = Address.AddressFamily == AddressFamily.InterNetworkV6;

    /// <summary>An address as the MRU key holds it: IPv4 in the low 32 bits.</summary>
    internal static UInt128 Bits(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        address.TryWriteBytes(address.AddressFamily == AddressFamily.InterNetworkV6 ? bytes : bytes[12..], out _);
        return BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }
}

/// <summary>
/// The access list of <c>restrict</c> lines: the entry whose mask has the most one bits among those that match an
/// address decides (ntpd's rule, seed 004's worked example; among equal masks an <c>ntpport</c> entry first). Without
/// a <c>restrict default</c> for a family, other hosts may get time but not query the daemon (NTPsec's default);
/// loopback is unrestricted unless an entry says otherwise. <c>restrict source</c> gives the addresses of the
/// associations (as they are resolved) flags of their own, ahead of every mask. Immutable: the daemon replaces the
/// whole list when <c>:config</c> changes it, and receive threads read it without locks or allocation.
/// </summary>
public sealed class RestrictList
{
    private static readonly UInt128 MappedPrefix = (UInt128)0xFFFF << 32;
    private static readonly UInt128 MappedMask = ~(UInt128)uint.MaxValue;

    private readonly AccessEntry[] _entries;
    private readonly HashSet<UInt128> _sources;
    private readonly AccessFlags? _sourceFlags;

    public RestrictList(IEnumerable<AccessEntry> entries, AccessFlags? sourceFlags = null)
        : this(Complete(entries), sourceFlags, [])
    {
    }

    private RestrictList(AccessEntry[] entries, AccessFlags? sourceFlags, HashSet<UInt128> sources)
    {
        _entries = entries;
        _sourceFlags = sourceFlags;
        _sources = sources;
    }

    /// <summary>Everything allowed to loopback, queries refused to others: the list with no restrict lines.</summary>
    public static RestrictList Default { get; } = new([]);

    public IReadOnlyList<AccessEntry> Entries => _entries;

    /// <summary>The flags of <c>restrict source</c>, or null when there is no such line.</summary>
    public AccessFlags? SourceFlags => _sourceFlags;

    /// <summary>The same list with <paramref name="addresses"/> as the association addresses <c>restrict source</c> covers.</summary>
    public RestrictList WithSources(IEnumerable<IPAddress> addresses) =>
        _sourceFlags is null ? this : new RestrictList(_entries, _sourceFlags, addresses.Select(a => AccessEntry.Bits(a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a)).ToHashSet());

    public AccessFlags Lookup(IPAddress address) => Lookup(MruKey.From(new IPEndPoint(address, 0)));

    public AccessFlags Lookup(IPEndPoint endPoint) => Lookup(MruKey.From(endPoint));

    /// <summary>The flags for a packet from <paramref name="source"/>: no allocation, one pass over the entries.</summary>
    public AccessFlags Lookup(MruKey source)
    {
        UInt128 address = source.Address;
        bool v6 = source.IPv6;
        if (v6 && (address & MappedMask) == MappedPrefix)
        {
            address &= uint.MaxValue;
            v6 = false;
        }

        if (_sourceFlags is AccessFlags sourceFlags && _sources.Contains(address))
        {
            return sourceFlags;
        }

        foreach (AccessEntry entry in _entries)
        {
            if (entry.IPv6 == v6 && (address & entry.MaskValue) == (entry.AddressBits & entry.MaskValue) && (!entry.NtpPortOnly || source.Port == 123))
            {
                return entry.Flags;
            }
        }

        return AccessFlags.None;
    }

    private static AccessEntry[] Complete(IEnumerable<AccessEntry> given)
    {
        var entries = given.ToList();
        foreach (AddressFamily family in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
        {
            IPAddress any = family == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any;
            if (!entries.Any(e => e.Address.AddressFamily == family && e.MaskBits == 0))
            {
                entries.Add(new AccessEntry(any, any, AccessFlags.NoQuery));
            }

            IPAddress loopback = family == AddressFamily.InterNetwork ? IPAddress.Parse("127.0.0.0") : IPAddress.IPv6Loopback;
            IPAddress loopbackMask = family == AddressFamily.InterNetwork ? IPAddress.Parse("255.0.0.0") : new IPAddress(Enumerable.Repeat((byte)0xFF, 16).ToArray());
            if (!entries.Any(e => e.MaskBits > 0 && e.Address.AddressFamily == family && Covers(e, loopback)))
            {
                entries.Add(new AccessEntry(loopback, loopbackMask, AccessFlags.None));
            }
        }

        return [.. entries.OrderByDescending(e => e.MaskBits).ThenByDescending(e => e.NtpPortOnly)];
    }

    private static bool Covers(AccessEntry entry, IPAddress address) =>
        (AccessEntry.Bits(address) & entry.MaskValue) == (entry.AddressBits & entry.MaskValue);
}
