using System.Net;
using Meridian.Engine;

namespace Meridian.Engine.Tests;

public sealed class RestrictListTests
{
    private static AccessEntry Entry(string address, string mask, AccessFlags flags) => new(IPAddress.Parse(address), IPAddress.Parse(mask), flags);

    [Fact]
    public void The_entry_with_the_longest_mask_wins_as_in_seed_004()
    {
        // restrict default notrust nomodify / 10.0.0.0 mask 255.255.0.0 nomodify / 128.115.14.97 nomodify / 16.1.0.22 nomodify / 10.0.246.16 / 127.0.0.1
        var list = new RestrictList(
        [
            Entry("0.0.0.0", "0.0.0.0", AccessFlags.NoTrust | AccessFlags.NoModify),
            Entry("10.0.0.0", "255.255.0.0", AccessFlags.NoModify),
            Entry("128.115.14.97", "255.255.255.255", AccessFlags.NoModify),
            Entry("16.1.0.22", "255.255.255.255", AccessFlags.NoModify),
            Entry("10.0.246.16", "255.255.255.255", AccessFlags.None),
            Entry("127.0.0.1", "255.255.255.255", AccessFlags.None),
        ]);

        Assert.Equal(AccessFlags.None, list.Lookup(IPAddress.Parse("10.0.246.16")));
        Assert.Equal(AccessFlags.NoModify, list.Lookup(IPAddress.Parse("10.0.246.17")));
        Assert.Equal(AccessFlags.NoModify, list.Lookup(IPAddress.Parse("128.115.14.97")));
        Assert.Equal(AccessFlags.NoTrust | AccessFlags.NoModify, list.Lookup(IPAddress.Parse("192.0.2.1")));
        Assert.Equal(AccessFlags.None, list.Lookup(IPAddress.Parse("127.0.0.1")));
        // No -6 default line: other IPv6 hosts may not query.
        Assert.Equal(AccessFlags.NoQuery, list.Lookup(IPAddress.Parse("2001:db8::1")));
    }

    [Fact]
    public void By_default_loopback_may_query_and_other_hosts_may_not()
    {
        Assert.Equal(AccessFlags.None, RestrictList.Default.Lookup(IPAddress.Loopback));
        Assert.Equal(AccessFlags.None, RestrictList.Default.Lookup(IPAddress.Parse("127.1.2.3")));
        Assert.Equal(AccessFlags.None, RestrictList.Default.Lookup(IPAddress.IPv6Loopback));
        Assert.Equal(AccessFlags.NoQuery, RestrictList.Default.Lookup(IPAddress.Parse("198.18.0.2")));
        Assert.Equal(AccessFlags.NoQuery, RestrictList.Default.Lookup(IPAddress.Parse("::ffff:198.18.0.2")));
        Assert.Equal(AccessFlags.NoQuery, RestrictList.Default.Lookup(IPAddress.Parse("fe80::1")));
    }
}
