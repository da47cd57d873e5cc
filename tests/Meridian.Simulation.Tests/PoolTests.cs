using System.Net;
using Meridian.Engine;

namespace Meridian.Simulation.Tests;

/// <summary><c>pool</c>: fills up to <c>tos maxclock</c> from a round-robin name, drops the dead and the false, and refills.</summary>
public sealed class PoolTests
{
    [Fact]
    public void A_pool_keeps_maxclock_good_servers_replacing_unreachable_ones_and_falsetickers()
    {
        var lab = new Lab(seed: 53);
        ReferenceServer[] servers = Enumerable.Range(0, 12).Select(i => lab.Server(offset: i == 2 ? 1.0 : 0)).ToArray();
        ReferenceServer falseticker = servers[2];
        servers[4].Online = false;
        servers[5].Online = false;
        var client = lab.Node(
            new ClockModel { InitialOffset = 0.003, InitialFrequency = 4e-6 },
            new EngineSettings { Selection = new SelectionSettings { MaxClock = 7 } });
        client.Engine.AddPool("pool.test", new AssociationSettings(new IPEndPoint(IPAddress.Any, 123)) { Iburst = true });

        // Like pool.ntp.org: four addresses an answer. The first answer holds the two dead servers and the falseticker.
        var dns = new Random(7);
        int answers = 0;
        client.Resolver = name => name != "pool.test" ? []
            : answers++ == 0 ? [servers[4].Address, servers[5].Address, falseticker.Address, servers[0].Address]
            : servers.OrderBy(_ => dns.Next()).Take(4).Select(s => s.Address).ToArray();

        int most = 0;
        lab.Run(3 * 3600, 30, () => most = Math.Max(most, client.Engine.Associations.Count));

        Assert.Equal(7, most);
        Assert.Equal(7, client.Engine.Associations.Count);
        Assert.All(client.Engine.Associations, a => Assert.NotEqual(0, a.Reach));
        IPAddress[] bad = [servers[4].Address, servers[5].Address, falseticker.Address];
        Assert.DoesNotContain(client.Engine.Associations, a => bad.Contains(a.Address.Address));
        Assert.Contains(client.Log, e => e.Message == $"pool pool.test: dropped {servers[4].Address} (unreachable)");
        Assert.Contains(client.Log, e => e.Message == $"pool pool.test: dropped {servers[5].Address} (unreachable)");
        Assert.Contains(client.Log, e => e.Message == $"pool pool.test: dropped {falseticker.Address} (falseticker)");
        Assert.NotNull(client.Engine.SystemPeer);
        Assert.True(Math.Abs(client.Clock.Error) < 0.001, $"{client.Clock.Error * 1e6:0} µs");
    }

    [Fact]
    public void A_pool_name_that_does_not_resolve_is_asked_again_with_back_off()
    {
        var lab = new Lab(seed: 59);
        var server = lab.Server();
        var client = lab.Node();
        client.Engine.AddPool("later.test", new AssociationSettings(new IPEndPoint(IPAddress.Any, 123)) { Iburst = true });
        var asked = new List<double>();
        bool resolves = false;
        client.Resolver = _ =>
        {
            asked.Add(lab.Time.Now);
            return resolves ? [server.Address] : [];
        };

        lab.Run(600);
        // 8, 16, 32, ... seconds apart: a handful of questions in ten minutes, not hundreds.
        Assert.InRange(asked.Count, 4, 8);
        Assert.True(asked[^1] - asked[^2] > 2 * (asked[1] - asked[0]), string.Join(" ", asked.Select(t => t.ToString("0"))));
        Assert.Empty(client.Engine.Associations);

        resolves = true;
        Assert.NotNull(lab.RunUntil(() => client.Engine.SystemPeer is not null, within: 1200));
    }
}
