using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Meridian.Config;

namespace Meridian.Daemon;

/// <summary>An address of a network interface, with what broadcast and multicast need to know of it.</summary>
public sealed record InterfaceAddress(string Interface, IPAddress Address, bool Loopback)
{
    /// <summary>The interface's index (for IP_MULTICAST_IF and group memberships).</summary>
    public int Index { get; init; }

    /// <summary>The subnet's prefix length (the subnet broadcast address follows from it).</summary>
    public int PrefixLength { get; init; }

    /// <summary>The interface is up and can send and receive multicast.</summary>
    public bool Multicast { get; init; }

    /// <summary>The subnet's broadcast address (IPv4), or null.</summary>
    public IPAddress? Broadcast
    {
        get
        {
            if (Address.AddressFamily != AddressFamily.InterNetwork || PrefixLength is <= 0 or >= 31)
            {
                return null;
            }

            uint bits = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(Address.GetAddressBytes());
            uint host = uint.MaxValue >> PrefixLength;
            byte[] broadcast = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(broadcast, bits | host);
            return new IPAddress(broadcast);
        }
    }

    /// <summary>The addresses of this host's interfaces now (IPv6 link-local ones left out: they need a scope).</summary>
    public static List<InterfaceAddress> OfThisHost() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses.Select(u => new InterfaceAddress(i.Name, u.Address, i.NetworkInterfaceType == NetworkInterfaceType.Loopback || IPAddress.IsLoopback(u.Address))
            {
                Index = IndexOf(i, u.Address.AddressFamily),
                PrefixLength = u.PrefixLength,
                Multicast = i.OperationalStatus == OperationalStatus.Up && i.SupportsMulticast && i.NetworkInterfaceType != NetworkInterfaceType.Loopback,
            }))
            .Where(a => !a.Address.IsIPv6LinkLocal)
            .ToList();

    private static int IndexOf(NetworkInterface i, AddressFamily family)
    {
        try
        {
            return family == AddressFamily.InterNetworkV6 ? i.GetIPProperties().GetIPv6Properties().Index : i.GetIPProperties().GetIPv4Properties().Index;
        }
        catch (NetworkInformationException)
        {
            return 0;
        }
    }
}

/// <summary>
/// Which addresses the daemon listens on, as ntpd decides it: with no <c>interface</c> rule and no <c>-I</c>, the
/// wildcard address of each family (every address, present and future); with <c>-I</c>, only the addresses and
/// interfaces it names; with rules, every address of every interface, each as the last rule that matches it says —
/// an address no rule matches is listened on, so <c>interface listen eth0</c> alone keeps loopback open (seed 000's
/// client still answers its own ntpq). A rule that names a host address no interface has binds it as written.
/// </summary>
public static class ListenPlan
{
    public static List<IPAddress> Choose(IReadOnlyList<InterfaceRule> rules, DaemonOptions options, IReadOnlyList<InterfaceAddress> addresses, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(addresses);
        ArgumentNullException.ThrowIfNull(problems);
        var chosen = new List<IPAddress>();
        if (options.ListenAddresses.Count > 0 || options.ListenInterfaces.Count > 0)
        {
            chosen.AddRange(options.ListenAddresses);
            foreach (string name in options.ListenInterfaces)
            {
                var of = addresses.Where(a => a.Interface == name).Select(a => a.Address).ToList();
                if (of.Count == 0)
                {
                    problems.Add($"-I {name}: no such interface or no address; not listening on it");
                }

                chosen.AddRange(of);
            }
        }
        else if (rules.Count == 0)
        {
            chosen.Add(IPAddress.Any);
            chosen.Add(IPAddress.IPv6Any);
        }
        else
        {
            foreach (InterfaceAddress a in addresses)
            {
                if (InterfaceRule.Decide(rules, a.Interface, a.Address, a.Loopback) == InterfaceAction.Listen)
                {
                    chosen.Add(a.Address);
                }
            }

            // The wildcard is no interface's address: it is listened on only when a rule says so.
            bool wildcardNamed = rules.Any(r => r.Action == InterfaceAction.Listen && r.Target.Equals("wildcard", StringComparison.OrdinalIgnoreCase));
            foreach (IPAddress wildcard in new[] { IPAddress.Any, IPAddress.IPv6Any })
            {
                if (wildcardNamed && InterfaceRule.Decide(rules, "", wildcard, loopback: false) == InterfaceAction.Listen)
                {
                    chosen.Add(wildcard);
                }
            }

            foreach (InterfaceRule rule in rules.Where(r => r.Action == InterfaceAction.Listen && r.Address is not null && r.PrefixLength == (r.Address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128)))
            {
                if (!addresses.Any(a => a.Address.Equals(rule.Address)) && InterfaceRule.Decide(rules, "", rule.Address!, IPAddress.IsLoopback(rule.Address!)) == InterfaceAction.Listen)
                {
                    chosen.Add(rule.Address!);
                }
            }

            foreach (InterfaceRule rule in rules.Where(r => r.Action == InterfaceAction.Listen && r.Address is null && r.Target is not ("all" or "ipv4" or "ipv6" or "wildcard")))
            {
                if (!addresses.Any(a => a.Interface == rule.Target))
                {
                    problems.Add($"interface listen {rule.Target} (line {rule.Line}): no such interface or no address");
                }
            }
        }

        return chosen
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork ? options.UseIPv4 : options.UseIPv6 && Socket.OSSupportsIPv6)
            .Distinct()
            .ToList();
    }
}
