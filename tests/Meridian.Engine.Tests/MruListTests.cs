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
            mru.Touch(MruKey.From(new IPEndPoint(new IPAddress(0xC6120000u + (uint)i), 1000 + i)), T0 + NtpDuration.FromSeconds(10 + i), 0x23);
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

    [Fact]
    public void One_entry_per_address_whatever_the_port()
    {
        var mru = new MruList();
        for (int port = 1000; port < 1100; port++)
        {
            mru.Touch(MruKey.From(new IPEndPoint(IPAddress.Parse("198.18.0.9"), port)), T0 + NtpDuration.FromSeconds(port), 0x23);
        }

        MruEntry entry = Assert.Single(mru.Snapshot());
        Assert.Equal(100, entry.Count);
        Assert.Equal(1099, entry.Key.Port);
    }

    [Fact]
    public void The_leaky_bucket_allows_a_burst_then_one_packet_per_average_interval()
    {
        var mru = new MruList(new DiscardSettings { Average = 3, Minimum = 2, KissInterval = 8 });
        MruKey client = MruKey.From(new IPEndPoint(IPAddress.Parse("198.18.0.2"), 123));
        RateVerdict At(double seconds) => mru.Touch(client, T0 + NtpDuration.FromSeconds(seconds), 0x23);

        // An iburst: eight packets two seconds apart, all within the limits.
        Assert.All(Enumerable.Range(0, 8).Select(i => At(2 * i)), v => Assert.Equal(RateVerdict.Ok, v));
        // Closer than the minimum: limited, and the first refusal may carry a kiss, the next ones within 8 s not.
        Assert.Equal(RateVerdict.LimitedMayKiss, At(14.5));
        Assert.Equal(RateVerdict.LimitedMayKiss, At(14.6));
        mru.Kissed(client, T0 + NtpDuration.FromSeconds(14.6));
        Assert.Equal(RateVerdict.Limited, At(15));
        Assert.True(mru.Snapshot()[0].Limited);

        // A flood at 100 packets/s for 10 s after 5 s of quiet: the first packet passes, the rest are limited, with
        // at most one kiss per 8 s.
        var verdicts = Enumerable.Range(0, 1000).Select(i =>
        {
            RateVerdict v = At(20 + i * 0.01);
            if (v == RateVerdict.LimitedMayKiss)
            {
                mru.Kissed(client, T0 + NtpDuration.FromSeconds(20 + i * 0.01));
            }

            return v;
        }).ToList();
        Assert.Equal(RateVerdict.Ok, verdicts[0]);
        Assert.Equal(1, verdicts.Count(v => v == RateVerdict.Ok));
        Assert.InRange(verdicts.Count(v => v == RateVerdict.LimitedMayKiss), 1, 2);

        // A polite client at one packet per 64 s is never limited.
        MruKey polite = MruKey.From(new IPEndPoint(IPAddress.Parse("198.18.0.3"), 123));
        Assert.All(Enumerable.Range(0, 50).Select(i => mru.Touch(polite, T0 + NtpDuration.FromSeconds(64 * i), 0x23)), v => Assert.Equal(RateVerdict.Ok, v));
    }

    [Fact]
    public void Above_mindepth_entries_older_than_maxage_are_reused()
    {
        var mru = new MruList(new DiscardSettings { MaxDepth = 100, MinDepth = 2, MaxAge = 60 });
        for (int i = 0; i < 5; i++)
        {
            mru.Touch(MruKey.From(new IPEndPoint(new IPAddress(0xC6120100u + (uint)i), 123)), T0 + NtpDuration.FromSeconds(i), 0x23);
        }

        mru.Touch(MruKey.From(new IPEndPoint(IPAddress.Parse("198.18.9.9"), 123)), T0 + NtpDuration.FromSeconds(100), 0x23);
        Assert.Equal(5, mru.Count);
        Assert.Equal(1, mru.RecycledOld);
        Assert.Equal(5, mru.New);
    }

    [Fact]
    public void An_entry_takes_no_more_than_the_size_monstats_reports()
    {
        // Measured: the node, slot and index share of one new entry (the index pre-sized, as the list does).
        var mru = new MruList(new DiscardSettings { MaxDepth = 4096 });
        // Warm-up: the first entries run the path before the runtime has compiled it for good.
        for (uint i = 0; i < 64; i++)
        {
            mru.Touch(MruKey.From(new IPEndPoint(new IPAddress(0xC6120000u + i), 123)), T0, 0x23);
        }

        MruKey[] keys = Enumerable.Range(0, 4000).Select(i => MruKey.From(new IPEndPoint(new IPAddress(0xC6130000u + (uint)i), 123))).ToArray();
        long before = GC.GetAllocatedBytesForCurrentThread();
        foreach (MruKey key in keys)
        {
            mru.Touch(key, T0, 0x23);
        }

        double perEntry = (GC.GetAllocatedBytesForCurrentThread() - before) / 4000.0;
        // Half an octet an entry of slack: the runtime's own allocations on this thread (a tiered recompile) once
        // added 1.3 KB over the 4000 entries.
        Assert.InRange(perEntry, MruList.EntrySize / 2.0, MruList.EntrySize + 0.5);
    }
}
