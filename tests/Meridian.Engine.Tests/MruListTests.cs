using System.Net;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Engine.Tests;

public sealed class MruListTests
{
    private static readonly NtpTimestamp T0 = NtpTimestamp.FromDateTime(new DateTime(2026, 11, 22, 10, 0, 0, DateTimeKind.Utc));

    [Fact]
    public void Clients_are_counted_most_recent_first_and_the_list_stays_bounded()
    {
        var mru = new MruList(capacity: 3);
        IPEndPoint a = new(IPAddress.Parse("198.18.0.1"), 123), b = new(IPAddress.Parse("2001:db8::1"), 40000), c = new(IPAddress.Parse("198.18.0.3"), 123), d = new(IPAddress.Parse("198.18.0.4"), 123);
        mru.Touch(MruKey.From(a), T0, 0x23);
        mru.Touch(MruKey.From(b), T0 + NtpDuration.FromSeconds(1), 0x23);
        mru.Touch(MruKey.From(a), T0 + NtpDuration.FromSeconds(2), 0x23);
        mru.Touch(MruKey.From(c), T0 + NtpDuration.FromSeconds(3), 0x1b);

        List<MruEntry> entries = mru.Snapshot();
        Assert.Equal([c, a, b], entries.Select(e => e.Key.ToEndPoint()));
        Assert.Equal(2, entries[1].Count);
        Assert.Equal(T0, entries[1].First);

        for (int i = 0; i < 10_000; i++)
        {
            mru.Touch(MruKey.From(new IPEndPoint(IPAddress.Parse("198.18.1.1"), 1000 + i)), T0 + NtpDuration.FromSeconds(10 + i), 0x23);
        }

        mru.Touch(MruKey.From(d), T0 + NtpDuration.FromSeconds(20_000), 0x23);
        Assert.Equal(3, mru.Count);
        Assert.Equal(d, mru.Snapshot(1)[0].Key.ToEndPoint());
    }

    [Fact]
    public void A_known_client_is_recorded_without_allocating()
    {
        var mru = new MruList();
        MruKey key = MruKey.From(new IPEndPoint(IPAddress.Loopback, 123));
        mru.Touch(key, T0, 0x23);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            mru.Touch(key, T0, 0x23);
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
