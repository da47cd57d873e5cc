using System.Net;
using System.Net.Sockets;
using Meridian.Config;
using Meridian.Engine;

namespace Meridian.Daemon;

/// <summary>
/// The restrict lines as the engine's access list, in order: <c>default</c> without -4/-6 covers both families; a
/// second line for the same address and mask adds its flags (as ntpd); <c>unrestrict</c> takes flags away from the
/// entry it names (for <c>default</c>, from the built-in noquery); a host name stands for each of the addresses it
/// resolved to (a name not resolved yet stands for none); <c>source</c> gives its flags to the associations' addresses.
/// </summary>
public static class AccessList
{
    private static readonly IPAddress HostMaskV6 = new(Enumerable.Repeat((byte)0xFF, 16).ToArray());

    public static RestrictList Build(IEnumerable<RestrictEntry> restrictions, IReadOnlyDictionary<string, IPAddress[]> resolvedNames)
    {
        ArgumentNullException.ThrowIfNull(restrictions);
        ArgumentNullException.ThrowIfNull(resolvedNames);
        var entries = new Dictionary<(IPAddress, IPAddress, bool), AccessFlags>();
        AccessFlags? source = null;
        foreach (RestrictEntry r in restrictions)
        {
            AccessFlags flags = Map(r.Flags);
            if (r.Target == RestrictTarget.Source)
            {
                source = r.Remove ? (source ?? AccessFlags.None) & ~flags : (source ?? AccessFlags.None) | flags;
                continue;
            }

            var targets = new List<(IPAddress Address, IPAddress Mask)>();
            switch (r.Target)
            {
                case RestrictTarget.Default:
                    if (r.Family is null or AddressFamily.InterNetwork)
                    {
                        targets.Add((IPAddress.Any, IPAddress.Any));
                    }

                    if (r.Family is null or AddressFamily.InterNetworkV6)
                    {
                        targets.Add((IPAddress.IPv6Any, IPAddress.IPv6Any));
                    }

                    break;
                case RestrictTarget.Address when r.Address is not null && r.Mask is not null:
                    targets.Add((r.Address, r.Mask));
                    break;
                case RestrictTarget.HostName when r.HostName is not null && resolvedNames.TryGetValue(r.HostName, out IPAddress[]? addresses):
                    foreach (IPAddress address in addresses.Where(a => r.Family is null || a.AddressFamily == r.Family))
                    {
                        targets.Add((address, address.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Broadcast : HostMaskV6));
                    }

                    break;
            }

            bool ntpPort = r.Flags.HasFlag(RestrictFlags.NtpPort);
            foreach ((IPAddress address, IPAddress mask) in targets)
            {
                var key = (address, mask, ntpPort);
                if (r.Remove)
                {
                    AccessFlags current = entries.TryGetValue(key, out AccessFlags existing) ? existing
                        : r.Target == RestrictTarget.Default ? AccessFlags.NoQuery : AccessFlags.None;
                    entries[key] = current & ~flags;
                }
                else
                {
                    entries[key] = entries.TryGetValue(key, out AccessFlags earlier) ? earlier | flags : flags;
                }
            }
        }

        return new RestrictList(entries.Select(e => new AccessEntry(e.Key.Item1, e.Key.Item2, e.Value, e.Key.Item3)), source);
    }

    /// <summary>The host names restrict lines name, to be resolved.</summary>
    public static IEnumerable<string> HostNames(IEnumerable<RestrictEntry> restrictions) =>
        restrictions.Where(r => r.Target == RestrictTarget.HostName && r.HostName is not null).Select(r => r.HostName!).Distinct(StringComparer.OrdinalIgnoreCase);

    private static AccessFlags Map(RestrictFlags f) =>
        (f.HasFlag(RestrictFlags.Ignore) ? AccessFlags.Ignore : 0) | (f.HasFlag(RestrictFlags.NoQuery) ? AccessFlags.NoQuery : 0)
        | (f.HasFlag(RestrictFlags.NoServe) ? AccessFlags.NoServe : 0) | (f.HasFlag(RestrictFlags.NoPeer) ? AccessFlags.NoPeer : 0)
        | (f.HasFlag(RestrictFlags.NoModify) ? AccessFlags.NoModify : 0) | (f.HasFlag(RestrictFlags.Kod) ? AccessFlags.Kod : 0)
        | (f.HasFlag(RestrictFlags.Limited) ? AccessFlags.Limited : 0) | (f.HasFlag(RestrictFlags.NoTrust) ? AccessFlags.NoTrust : 0)
        | (f.HasFlag(RestrictFlags.Version) ? AccessFlags.Version : 0) | (f.HasFlag(RestrictFlags.NoTrap) ? AccessFlags.NoTrap : 0)
        | (f.HasFlag(RestrictFlags.LowPriorityTrap) ? AccessFlags.LowPriorityTrap : 0);
}
