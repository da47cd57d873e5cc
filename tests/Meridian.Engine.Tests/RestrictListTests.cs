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

    [Fact]
    public void Ntpport_entries_match_only_port_123_and_source_covers_the_associations()
    {
        var list = new RestrictList(
        [
            Entry("0.0.0.0", "0.0.0.0", AccessFlags.Limited | AccessFlags.Kod),
            new AccessEntry(IPAddress.Parse("198.18.0.0"), IPAddress.Parse("255.255.0.0"), AccessFlags.NoServe, NtpPortOnly: true),
        ], sourceFlags: AccessFlags.NoQuery);

        Assert.Equal(AccessFlags.NoServe, list.Lookup(new IPEndPoint(IPAddress.Parse("198.18.0.5"), 123)));
        Assert.Equal(AccessFlags.Limited | AccessFlags.Kod, list.Lookup(new IPEndPoint(IPAddress.Parse("198.18.0.5"), 40000)));

        RestrictList withSources = list.WithSources([IPAddress.Parse("192.0.2.7"), IPAddress.Parse("2001:db8::7")]);
        Assert.Equal(AccessFlags.NoQuery, withSources.Lookup(IPAddress.Parse("192.0.2.7")));
        Assert.Equal(AccessFlags.NoQuery, withSources.Lookup(IPAddress.Parse("::ffff:192.0.2.7")));
        Assert.Equal(AccessFlags.NoQuery, withSources.Lookup(IPAddress.Parse("2001:db8::7")));
        Assert.Equal(AccessFlags.Limited | AccessFlags.Kod, withSources.Lookup(IPAddress.Parse("192.0.2.8")));
    }

    [Fact]
    public void A_lookup_on_the_serving_path_allocates_nothing()
    {
        var list = new RestrictList([Entry("0.0.0.0", "0.0.0.0", AccessFlags.Limited), Entry("10.0.0.0", "255.0.0.0", AccessFlags.None)]);
        MruKey key = MruKey.From(new IPEndPoint(IPAddress.Parse("10.1.2.3"), 40000));
        list.Lookup(key);
        long before = GC.GetAllocatedBytesForCurrentThread();
        AccessFlags flags = AccessFlags.None;
        for (int i = 0; i < 1000; i++)
        {
            flags |= list.Lookup(key);
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
        Assert.Equal(AccessFlags.None, flags);
    }
}
