using System.Net;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Simulation.Tests;

/// <summary>
/// Orphan mode (<c>tos orphan 5</c>) and loop avoidance: a subnet whose hosts are symmetric peers of each other and
/// clients of a gateway keeps one time when the way to the primary server is lost, and goes back to it when it
/// returns.
/// </summary>
public sealed class OrphanTests
{
    private const int Orphan = 5;

    private static readonly EngineSettings OrphanSettings = new() { Selection = new SelectionSettings { Orphan = Orphan } };

    [Fact]
    public void Losing_the_primary_makes_the_gateway_the_orphan_parent_and_the_subnet_follows_it()
    {
        (Lab lab, ReferenceServer primary, SimulatedNode gateway, SimulatedNode[] hosts) = Subnet(seed: 41);
        SimulatedNode[] all = [gateway, .. hosts];
        lab.Run(2 * 3600);
        Assert.Equal(2, gateway.Engine.State.Stratum);
        Assert.All(hosts, h => Assert.Equal(3, h.Engine.State.Stratum));

        primary.Online = false;
        // Three missed polls make the primary unreachable (up to 3 × 1024 s), then orphanwait (300 s) passes.
        lab.Run(3 * 1024 + 300 + 600);
        SimulatedNode parent = Assert.Single(all, n => n.Engine.IsOrphanParent);
        Assert.Same(gateway, parent);
        Assert.Equal(Orphan, gateway.Engine.State.Stratum);
        Assert.Equal(ReferenceId.OrphanParent, gateway.Engine.State.ReferenceId);

        // Three hours later the subnet still agrees with its parent.
        lab.Run(3 * 3600, 60, () => AssertOneTree(all, parent));
        Assert.All(hosts, h => Assert.Equal(Orphan + 1, h.Engine.State.Stratum));

        primary.Online = true;
        lab.Run(3600);
        Assert.False(gateway.Engine.IsOrphanParent);
        Assert.Equal(2, gateway.Engine.State.Stratum);
        Assert.All(hosts, h => Assert.Equal(3, h.Engine.State.Stratum));
        Assert.Contains(gateway.Log, e => e.Message.Contains("orphan mode: leaving", StringComparison.Ordinal));
    }

    [Fact]
    public void When_the_gateway_itself_is_gone_the_peers_elect_one_parent_without_a_loop()
    {
        (Lab lab, _, SimulatedNode gateway, SimulatedNode[] hosts) = Subnet(seed: 43);
        lab.Run(2 * 3600);
        Assert.All(hosts, h => Assert.Equal(3, h.Engine.State.Stratum));

        lab.Network.Detach(gateway.Address);
        int highest = 0;
        // Without loop avoidance, peers that lost their common server take each other and count up to 16.
        lab.Run(3 * 1024 + 300 + 600, 8, () => highest = Math.Max(highest, hosts.Max(h => h.Engine.SystemPeer is null ? 0 : h.Engine.State.Stratum)));
        Assert.True(highest <= Orphan + 2, $"stratum climbed to {highest}");

        // One parent: the first to claim it gathers the others; between two parents the lower address key wins.
        SimulatedNode parent = Assert.Single(hosts, n => n.Engine.IsOrphanParent);
        lab.Run(3 * 3600, 60, () => AssertOneTree(hosts, parent));
    }

    [Fact]
    public void A_host_that_lost_its_server_does_not_take_its_own_descendant()
    {
        // A chain a → b → c where a also lists c: when a's server goes, c (stratum 4, reference ID b) is not
        // synchronized to a directly, so the reference ID test cannot see the loop a → c → b → a; the feasibility
        // rule must. After orphanwait a becomes the orphan parent and the chain follows it.
        var lab = new Lab(seed: 47, link: new LinkModel { BaseDelay = 0.0005, Jitter = 0.00005 });
        var primary = lab.Server();
        SimulatedNode a = lab.Node(settings: OrphanSettings), b = lab.Node(settings: OrphanSettings), c = lab.Node(settings: OrphanSettings);
        a.AddServer(primary.Address, s => s with { Iburst = true });
        b.AddServer(a.Address, s => s with { Iburst = true });
        c.AddServer(b.Address, s => s with { Iburst = true });
        a.AddServer(c.Address, s => s with { Iburst = true });
        lab.Run(3600);
        Assert.Equal([2, 3, 4], new[] { a, b, c }.Select(n => (int)n.Engine.State.Stratum));
        Assert.Equal(primary.Address, a.Engine.SystemPeer?.Address.Address);

        primary.Online = false;
        lab.Run(3 * 3600, 4, () => Assert.NotEqual(c.Address, a.Engine.SystemPeer?.Address.Address));
        Assert.True(a.Engine.IsOrphanParent);
        Assert.Equal([Orphan, Orphan + 1, Orphan + 2], new[] { a, b, c }.Select(n => (int)n.Engine.State.Stratum));
        AssertOneTree([a, b, c], a);
    }

    /// <summary>Every host is synchronized, follows its system peer to the parent in fewer hops than there are hosts, and agrees with it within 1 ms.</summary>
    private static void AssertOneTree(SimulatedNode[] nodes, SimulatedNode parent)
    {
        var byAddress = nodes.ToDictionary(n => n.Address);
        foreach (SimulatedNode node in nodes)
        {
            Assert.True(node.Engine.State.IsSynchronized, $"{node.Address} unsynchronized");
            SimulatedNode at = node;
            int hops = 0;
            while (at != parent)
            {
                IPAddress? next = at.Engine.SystemPeer?.Address.Address;
                Assert.True(next is not null && byAddress.ContainsKey(next), $"{at.Address} follows {next?.ToString() ?? "nothing"}");
                at = byAddress[next!];
                Assert.True(++hops < nodes.Length, $"{node.Address}: loop");
            }

            Assert.True(Math.Abs(node.Clock.Error - parent.Clock.Error) < 0.001, $"{node.Address}: {(node.Clock.Error - parent.Clock.Error) * 1e6:0} µs from the parent");
        }
    }

    /// <summary>A primary, a gateway that is its client, and three hosts that are clients of the gateway and symmetric peers of each other, all with <c>tos orphan 5</c>.</summary>
    private static (Lab, ReferenceServer, SimulatedNode, SimulatedNode[]) Subnet(int seed)
    {
        var lab = new Lab(seed, new LinkModel { BaseDelay = 0.0005, Jitter = 0.00005 });
        var primary = lab.Server();
        var clock = new ClockModel { InitialOffset = 0.002, InitialFrequency = 3e-6, Wander = 1e-9 };
        var gateway = lab.Node(clock, OrphanSettings);
        gateway.AddServer(primary.Address, s => s with { Iburst = true });
        SimulatedNode[] hosts = Enumerable.Range(0, 3)
            .Select(i => lab.Node(clock with { InitialOffset = -0.003 * i, InitialFrequency = (i - 1) * 7e-6 }, OrphanSettings))
            .ToArray();
        foreach (SimulatedNode host in hosts)
        {
            host.AddServer(gateway.Address, s => s with { Iburst = true });
            foreach (SimulatedNode other in hosts.Where(o => o != host))
            {
                host.AddServer(other.Address, s => s with { Mode = AssociationMode.SymmetricActive });
            }
        }

        return (lab, primary, gateway, hosts);
    }
}
