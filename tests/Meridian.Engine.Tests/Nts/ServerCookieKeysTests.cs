using Meridian.Engine.Nts;

namespace Meridian.Engine.Tests.Nts;

public sealed class ServerCookieKeysTests
{
    private static readonly DateTime Day0 = new(2026, 12, 2, 0, 0, 0, DateTimeKind.Utc);
    private static readonly byte[] C2S = Enumerable.Range(0x10, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] S2C = Enumerable.Range(0x80, 32).Select(i => (byte)i).ToArray();

    [Fact]
    public void A_cookie_round_trips_with_the_rfc8915_layout()
    {
        using var keys = new ServerCookieKeys(new SeededRandomSource(1), Day0);
        byte[] cookie = Seal(keys);
        // Key id, nonce, SIV, then the sealed AEAD id with two zero octets and the keys: 104, a multiple of four.
        Assert.Equal(4 + 16 + 16 + 4 + 64, cookie.Length);
        Assert.Equal(keys.Current.Id, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(cookie));

        Assert.Equal(CookieStatus.Opened, keys.Open(cookie, out NtsCookie? contents));
        Assert.NotNull(contents);
        Assert.Equal(NtsAeadId.AesSivCmac256, contents.AeadId);
        Assert.Equal(C2S, contents.C2SKey);
        Assert.Equal(S2C, contents.S2CKey);

        // The keys are encrypted, not merely authenticated.
        Assert.DoesNotContain(Convert.ToHexString(C2S[..8]), Convert.ToHexString(cookie), StringComparison.Ordinal);

        // Two cookies for the same keys differ (fresh nonce), so a client's cookies cannot be linked.
        Assert.NotEqual(Convert.ToHexString(cookie), Convert.ToHexString(Seal(keys)));
    }

    [Fact]
    public void A_gcm_siv_session_gets_a_shorter_cookie()
    {
        using var keys = new ServerCookieKeys(new SeededRandomSource(2), Day0);
        byte[] cookie = new byte[ServerCookieKeys.CookieLength(NtsAeadId.AesGcmSiv128)!.Value];
        Assert.Equal(72, keys.Seal(NtsAeadId.AesGcmSiv128, C2S[..16], S2C[..16], cookie));
        Span<byte> c2s = stackalloc byte[32], s2c = stackalloc byte[32];
        Assert.Equal(CookieStatus.Opened, keys.Open(cookie, out ushort aead, c2s, s2c, out int length));
        Assert.Equal(NtsAeadId.AesGcmSiv128, aead);
        Assert.Equal(16, length);
        Assert.Equal(C2S[..16], c2s[..16].ToArray());
        Assert.Equal(S2C[..16], s2c[..16].ToArray());
        Assert.Null(ServerCookieKeys.CookieLength(99));
    }

    [Fact]
    public void Sealing_and_opening_a_cookie_allocates_nothing()
    {
        // A server opens a cookie and seals a replacement for every NTS request it answers (RFC 8915 §5.7).
        using var keys = new ServerCookieKeys(new SeededRandomSource(16), Day0);
        byte[] cookie = new byte[ServerCookieKeys.CookieLength(NtsAeadId.AesSivCmac256)!.Value], c2s = new byte[32], s2c = new byte[32];
        long allocated = 0;
        for (int i = 0; i < 20; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            keys.Seal(NtsAeadId.AesSivCmac256, C2S, S2C, cookie);
            bool opened = keys.Open(cookie, out _, c2s, s2c, out _) == CookieStatus.Opened;
            Assert.True(opened);
            allocated += i < 5 ? 0 : GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Assert.Equal(0, allocated);
        Assert.Equal(S2C, s2c);
    }

    [Fact]
    public void Cookies_open_after_rotations_until_their_key_is_dropped()
    {
        using var keys = new ServerCookieKeys(new SeededRandomSource(3), Day0, retained: 3);
        byte[] cookie = Seal(keys);
        uint first = keys.Current.Id;

        keys.Rotate(Day0.AddDays(1));
        Assert.NotEqual(first, keys.Current.Id);
        Assert.Equal(CookieStatus.Opened, keys.Open(cookie, out _));
        keys.Rotate(Day0.AddDays(2));
        Assert.Equal(CookieStatus.Opened, keys.Open(cookie, out _));
        keys.Rotate(Day0.AddDays(3));
        Assert.Equal(CookieStatus.Opened, keys.Open(cookie, out _));
        Assert.Equal(4, keys.Keys.Count);

        // retained + 1 rotations: the key is gone.
        keys.Rotate(Day0.AddDays(4));
        Assert.Equal(4, keys.Keys.Count);
        Assert.DoesNotContain(keys.Keys, k => k.Id == first);
        Assert.Equal(CookieStatus.UnknownKey, keys.Open(cookie, out NtsCookie? contents));
        Assert.Null(contents);

        // New cookies are sealed under the newest key.
        Assert.Equal(keys.Current.Id, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(Seal(keys)));
    }

    [Fact]
    public void Rotation_is_due_after_the_period()
    {
        using var keys = new ServerCookieKeys(new SeededRandomSource(4), Day0);
        uint first = keys.Current.Id;
        Assert.False(keys.RotateIfDue(Day0.AddHours(23), TimeSpan.FromDays(1)));
        Assert.Equal(first, keys.Current.Id);
        Assert.True(keys.RotateIfDue(Day0.AddHours(24), TimeSpan.FromDays(1)));
        Assert.NotEqual(first, keys.Current.Id);
        Assert.Equal(Day0.AddHours(24), keys.Current.Created);
    }

    [Fact]
    public void A_forged_cookie_fails_authentication_at_every_octet_after_the_key_id()
    {
        using var keys = new ServerCookieKeys(new SeededRandomSource(5), Day0);
        byte[] cookie = Seal(keys);
        for (int i = 0; i < cookie.Length; i++)
        {
            byte[] forged = (byte[])cookie.Clone();
            forged[i] ^= 0x40;
            CookieStatus expected = i < 4 ? CookieStatus.UnknownKey : CookieStatus.AuthenticationFailed;
            Assert.Equal(expected, keys.Open(forged, out NtsCookie? contents));
            Assert.Null(contents);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(38)]
    [InlineData(101)]
    [InlineData(103)]
    [InlineData(200)]
    public void A_cookie_of_the_wrong_length_is_malformed(int length)
    {
        using var keys = new ServerCookieKeys(new SeededRandomSource(6), Day0);
        byte[] cookie = Seal(keys);
        byte[] wrong = new byte[length];
        cookie.AsSpan(0, Math.Min(length, cookie.Length)).CopyTo(wrong);
        Assert.Equal(CookieStatus.Malformed, keys.Open(wrong, out _));
    }

    [Fact]
    public void A_truncated_but_even_length_cookie_fails_authentication()
    {
        // 72 octets is a valid GCM-SIV cookie length: the SIV catches the cut.
        using var keys = new ServerCookieKeys(new SeededRandomSource(7), Day0);
        Assert.Equal(CookieStatus.AuthenticationFailed, keys.Open(Seal(keys).AsSpan(0, 72), out _, new byte[32], new byte[32], out _));
    }

    [Fact]
    public void Two_servers_sharing_the_key_file_open_each_others_cookies()
    {
        // The file's text: the daemon writes it atomically and reads it back (NtsServer, AtomicFile).
        using var writer = new ServerCookieKeys(new SeededRandomSource(8), Day0.AddHours(3.5));
        writer.Rotate(Day0.AddDays(1));
        string file = writer.Format();

        using ServerCookieKeys a = ServerCookieKeys.Parse(file, new SeededRandomSource(9));
        using ServerCookieKeys b = ServerCookieKeys.Parse(file, new SeededRandomSource(10));
        Assert.Equal(file, a.Format());
        Assert.Equal(writer.Keys.Select(k => (k.Id, k.Created)), a.Keys.Select(k => (k.Id, k.Created)));
        Assert.Equal(Day0.AddHours(3.5), a.Keys[1].Created);

        byte[] fromA = Seal(a), fromB = Seal(b);
        Assert.Equal(CookieStatus.Opened, b.Open(fromA, out NtsCookie? opened));
        Assert.Equal(C2S, opened!.C2SKey);
        Assert.Equal(CookieStatus.Opened, a.Open(fromB, out _));
        Assert.Equal(CookieStatus.Opened, writer.Open(fromB, out _));

        // The writer rotates and saves again; the other server reads the new text and still opens old cookies.
        writer.Rotate(Day0.AddDays(2));
        using ServerCookieKeys b2 = ServerCookieKeys.Parse(writer.Format(), new SeededRandomSource(11));
        Assert.Equal(writer.Current.Id, b2.Current.Id);
        Assert.Equal(CookieStatus.Opened, b2.Open(fromA, out _));
    }

    [Fact]
    public void The_key_file_format_is_the_documented_one()
    {
        const string text = "meridian-nts-cookie-keys 1\n# comment\n\n"
            + "key 0000002a 2026-12-02T00:00:00Z 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
            + "key deadbeef 2026-12-01T00:00:00Z ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n";
        using ServerCookieKeys keys = ServerCookieKeys.Parse(text, new SeededRandomSource(12));
        Assert.Equal(0x2au, keys.Current.Id);
        Assert.Equal(new[] { 0x2au, 0xdeadbeefu }, keys.Keys.Select(k => k.Id));
        Assert.Equal(Day0, keys.Current.Created);
        Assert.Equal(text.Replace("# comment\n\n", "# NTS cookie master keys (RFC 8915 section 6), newest first; the first is current. Secret: keep mode 0600.\n", StringComparison.Ordinal), keys.Format());
    }

    [Theory]
    [InlineData("", 1, 1, "not a key file")]
    [InlineData("meridian-nts-cookie-keys 2\nkey 0000002a 2026-12-02T00:00:00Z 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 1, 1, "expected \"meridian-nts-cookie-keys 1\"")]
    [InlineData("meridian-nts-cookie-keys 1\n", 1, 27, "no keys after the header")]
    [InlineData("meridian-nts-cookie-keys 1\nkey 0000002a 2026-12-02T00:00:00Z 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n", 2, 35, "the key is 64 hex digits, not 62 characters")]
    [InlineData("meridian-nts-cookie-keys 1\nkey 2a 2026-12-02T00:00:00Z 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 2, 5, "the key id is 8 hex digits, not '2a'")]
    [InlineData("meridian-nts-cookie-keys 1\nkey 0000002a 2026-12-02 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 2, 14, "the creation time is yyyy-MM-ddTHH:mm:ssZ, not '2026-12-02'")]
    [InlineData("meridian-nts-cookie-keys 1\nkey 0000002a 2026-12-02T00:00:00Z 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\nkey 0000002a 2026-12-01T00:00:00Z 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 3, 5, "key id 0000002a appears twice")]
    [InlineData("meridian-nts-cookie-keys 1\n  kee 0000002a\n", 2, 3, "expected \"key <8 hex id>")]
    [InlineData("meridian-nts-cookie-keys 1\nkey 0000002a 2026-12-02T00:00:00Z\n", 2, 34, "expected \"key <8 hex id>")]
    public void A_bad_key_file_is_refused_at_its_line_and_column(string text, int line, int column, string reason)
    {
        CookieKeyFileException e = Assert.Throws<CookieKeyFileException>(() => ServerCookieKeys.Parse(text, new SeededRandomSource(13)));
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.StartsWith($"keys:{line}:{column}: {reason}", e.Describe("keys"), StringComparison.Ordinal);
    }

    [Fact]
    public void Loading_keeps_only_the_retained_keys()
    {
        using var writer = new ServerCookieKeys(new SeededRandomSource(14), Day0, retained: 5);
        for (int i = 1; i <= 5; i++)
        {
            writer.Rotate(Day0.AddDays(i));
        }

        using ServerCookieKeys reader = ServerCookieKeys.Parse(writer.Format(), new SeededRandomSource(15), retained: 2);
        Assert.Equal(writer.Keys.Take(3).Select(k => k.Id), reader.Keys.Select(k => k.Id));
    }

    private static byte[] Seal(ServerCookieKeys keys)
    {
        byte[] cookie = new byte[ServerCookieKeys.CookieLength(NtsAeadId.AesSivCmac256)!.Value];
        Assert.Equal(cookie.Length, keys.Seal(NtsAeadId.AesSivCmac256, C2S, S2C, cookie));
        return cookie;
    }
}
