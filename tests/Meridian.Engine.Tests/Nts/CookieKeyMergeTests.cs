using Meridian.Engine.Nts;

namespace Meridian.Engine.Tests.Nts;

/// <summary>Merging a fleet's shared key file into the keys held (RFC 8915 §6): by id, newest first, never overwritten.</summary>
public sealed class CookieKeyMergeTests
{
    private static readonly DateTime Day0 = new(2026, 12, 2, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void A_follower_takes_the_leaders_new_key_as_current_and_keeps_the_old_ones()
    {
        using var leader = new ServerCookieKeys(new SeededRandomSource(1), Day0);
        using ServerCookieKeys follower = ServerCookieKeys.Parse(leader.Format(), new SeededRandomSource(2));
        leader.Rotate(Day0.AddDays(1));
        byte[] cookie = Seal(leader);
        Assert.Equal(CookieStatus.UnknownKey, follower.Open(cookie, out _));

        Assert.Equal(new CookieKeyMerge(1, false), follower.Merge(leader.Format()));
        Assert.Equal(leader.Keys.Select(k => k.Id), follower.Keys.Select(k => k.Id));
        Assert.Equal(CookieStatus.Opened, follower.Open(cookie, out _));
        // The same text again changes nothing.
        Assert.Equal(new CookieKeyMerge(0, false), follower.Merge(leader.Format()));
    }

    [Fact]
    public void Two_servers_that_rotated_at_once_end_up_with_both_keys_in_the_same_order()
    {
        using var a = new ServerCookieKeys(new SeededRandomSource(3), Day0);
        using ServerCookieKeys b = ServerCookieKeys.Parse(a.Format(), new SeededRandomSource(4));
        a.Rotate(Day0.AddDays(1));
        b.Rotate(Day0.AddDays(1));
        byte[] fromA = Seal(a), fromB = Seal(b);

        // b wrote last: a reads b's file, takes b's key and sees that the file lacks its own (it writes back).
        Assert.Equal(new CookieKeyMerge(1, true), a.Merge(b.Format()));
        Assert.Equal(new CookieKeyMerge(1, false), b.Merge(a.Format()));
        Assert.Equal(a.Format(), b.Format());
        Assert.Equal(3, a.Keys.Count);
        Assert.Equal(CookieStatus.Opened, a.Open(fromB, out _));
        Assert.Equal(CookieStatus.Opened, b.Open(fromA, out _));
    }

    [Fact]
    public void A_merged_set_is_cut_to_the_retained_keys_and_a_conflicting_id_is_refused_with_no_change()
    {
        using var leader = new ServerCookieKeys(new SeededRandomSource(5), Day0);
        using ServerCookieKeys follower = ServerCookieKeys.Parse(leader.Format(), new SeededRandomSource(6));
        for (int i = 1; i <= 6; i++)
        {
            leader.Rotate(Day0.AddDays(i));
        }

        Assert.Equal(new CookieKeyMerge(4, false), follower.Merge(leader.Format()));
        Assert.Equal(leader.Keys.Select(k => k.Id), follower.Keys.Select(k => k.Id));

        string forged = leader.Format().Replace(leader.Format().Split('\n')[2][^64..], new string('0', 64), StringComparison.Ordinal);
        string before = follower.Format();
        CookieKeyFileException e = Assert.Throws<CookieKeyFileException>(() => follower.Merge(forged));
        Assert.Equal((3, 5), (e.Line, e.Column));
        Assert.Contains("is another key than the one of that id in use", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, follower.Format());
    }

    private static byte[] Seal(ServerCookieKeys keys)
    {
        byte[] cookie = new byte[ServerCookieKeys.CookieLength(NtsAeadId.AesSivCmac256)!.Value];
        keys.Seal(NtsAeadId.AesSivCmac256, new byte[32], new byte[32], cookie);
        return cookie;
    }
}
