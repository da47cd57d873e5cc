using System.Buffers.Binary;
using Meridian.Engine.Nts;
using Meridian.Protocol;
using Meridian.Protocol.Nts;

namespace Meridian.Engine.Tests.Nts;

/// <summary>RFC 8915 §5.7 on the server's NTP path: requests built by hand as a client would, replies opened with the S2C key.</summary>
public sealed class NtsServerTests : IDisposable
{
    private static readonly DateTime Day0 = new(2026, 12, 2, 0, 0, 0, DateTimeKind.Utc);
    private static readonly NtpTimestamp RefTime = NtpTimestamp.FromDateTime(new DateTime(2026, 12, 2, 10, 0, 0, DateTimeKind.Utc));
    private static readonly NtpTimestamp Received = RefTime + NtpDuration.FromSeconds(100);
    private static readonly NtpTimestamp Transmit = Received + NtpDuration.FromSeconds(0.000_020);
    private static readonly NtpTimestamp ClientTransmit = new(0xDEADBEEF_01234567);

    private readonly ServerCookieKeys _keys = new(new SeededRandomSource(7), Day0, retained: 1);
    private readonly SeededRandomSource _random = new(11);

    public void Dispose() => _keys.Dispose();

    private ServerResponder Responder(bool nts = true)
    {
        var state = new SystemState(LeapIndicator.NoWarning, 2, -23, 0.001, NtpConstants.MinDispersion, ReferenceId.FromAscii("GPS"), RefTime);
        return new ServerResponder(new FixedClock(Transmit), state) { NtsCookieKeys = nts ? _keys : null, Random = new SeededRandomSource(5) };
    }

    private static (byte[] C2S, byte[] S2C) SessionKeys(ushort aeadId)
    {
        int length = NtsAead.KeyLength(aeadId)!.Value;
        return (Enumerable.Range(0x10, length).Select(i => (byte)i).ToArray(), Enumerable.Range(0x80, length).Select(i => (byte)i).ToArray());
    }

    private byte[] Bytes(int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i += 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i), _random.NextUInt64());
        }

        return bytes;
    }

    private byte[] Cookie(ushort aeadId, byte[] c2s, byte[] s2c, ServerCookieKeys? keys = null)
    {
        var cookie = new byte[ServerCookieKeys.CookieLength(aeadId)!.Value];
        (keys ?? _keys).Seal(aeadId, c2s, s2c, cookie);
        return cookie;
    }

    /// <summary>
    /// A client request (RFC 8915 §5.7): header, Unique Identifier, Cookie, placeholders, then the authenticator over
    /// all that with the C2S key; <paramref name="padded"/> adds RFC 8915 §5.6's padding to a 12-octet nonce.
    /// </summary>
    private byte[] Request(ushort aeadId, byte[] c2s, byte[] uid, byte[] cookie, int placeholders, bool padded = true, byte[]? encrypted = null,
        bool withUid = true, int placeholderLength = -1)
    {
        var packet = new byte[4096];
        new NtpHeader { Version = 4, Mode = NtpMode.Client, Poll = 6, TransmitTimestamp = ClientTransmit }.Write(packet);
        int position = NtpHeader.Size;
        if (withUid)
        {
            position += NtsFieldWriter.WriteUniqueIdentifier(packet.AsSpan(position), uid);
        }

        position += NtsFieldWriter.WriteCookie(packet.AsSpan(position), cookie);
        for (int i = 0; i < placeholders; i++)
        {
            position += NtsFieldWriter.WriteCookiePlaceholder(packet.AsSpan(position), placeholderLength < 0 ? cookie.Length : placeholderLength);
        }

        using INtsAead aead = NtsAead.Create(aeadId, c2s)!;
        byte[] nonce = Bytes(16)[..aead.NonceLength];
        byte[] plaintext = encrypted ?? [];
        int padding = padded ? Math.Max(0, 16 - nonce.Length) : 0;
        int authenticator = position;
        position += NtsFieldWriter.WriteAuthenticator(packet.AsSpan(position), nonce, plaintext.Length + aead.Overhead, out Span<byte> ciphertext, padding);
        aead.Seal(nonce, packet.AsSpan(0, authenticator), plaintext, ciphertext);
        return packet[..position];
    }

    /// <summary>Checks the reply's header and authenticator and returns the cookies it carried, opened.</summary>
    private List<NtsCookie> OpenReply(ReadOnlySpan<byte> reply, ushort aeadId, byte[] s2c, byte[] uid)
    {
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader header));
        Assert.Equal(NtpMode.Server, header.Mode);
        Assert.Equal(2, header.Stratum);
        Assert.Equal(ClientTransmit, header.OriginTimestamp);
        Assert.Equal(Received, header.ReceiveTimestamp);
        Assert.Equal(Transmit, header.TransmitTimestamp);

        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(reply, out NtsFields fields));
        Assert.Equal(uid, fields.UniqueIdentifier.ToArray());
        Assert.True(fields.Cookie.IsEmpty);
        Assert.True(fields.HasAuthenticator);
        Assert.Equal(0, fields.FieldsAfterAuthenticator);
        Assert.Equal(NtpHeader.Size + 4 + uid.Length, fields.AuthenticatorOffset);

        using INtsAead aead = NtsAead.Create(aeadId, s2c)!;
        Assert.Equal(aead.NonceLength, fields.Nonce.Length);
        var plaintext = new byte[fields.Ciphertext.Length - aead.Overhead];
        Assert.True(aead.TryOpen(fields.Nonce, fields.AssociatedData, fields.Ciphertext, plaintext, out int written));
        Assert.Equal(NtsFieldStatus.Ok, NtsPlaintext.TryRead(plaintext.AsSpan(0, written), out NtsPlaintext inside));

        var cookies = new List<NtsCookie>();
        int length = ServerCookieKeys.CookieLength(aeadId)!.Value;
        foreach (ReadOnlySpan<byte> cookie in inside.EnumerateCookies())
        {
            Assert.Equal(CookieStatus.Opened, _keys.Open(cookie[..length], out NtsCookie? opened));
            cookies.Add(opened!);
        }

        Assert.Equal(inside.CookieCount, cookies.Count);
        return cookies;
    }

    private static void AssertNak(ReadOnlySpan<byte> reply, byte[] uid)
    {
        Assert.Equal(NtpHeader.Size + 4 + uid.Length, reply.Length);
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader header));
        Assert.True(NtsNak.IsNak(header));
        Assert.Equal("NTSN", header.ReferenceId.ToAscii());
        Assert.Equal(LeapIndicator.Unsynchronized, header.Leap);
        Assert.Equal(0, header.Stratum);

        // No time: every timestamp is the client's own transmit timestamp back (as any kiss-o'-death).
        Assert.Equal(ClientTransmit, header.OriginTimestamp);
        Assert.Equal(ClientTransmit, header.ReceiveTimestamp);
        Assert.Equal(ClientTransmit, header.TransmitTimestamp);
        Assert.True(header.ReferenceTimestamp.IsZero);

        // RFC 8915 §5.7: the Unique Identifier, and no cookie or authenticator.
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(reply, out NtsFields fields));
        Assert.Equal(uid, fields.UniqueIdentifier.ToArray());
        Assert.False(fields.HasAuthenticator);
        Assert.True(fields.Cookie.IsEmpty);
    }

    [Theory]
    [InlineData(NtsAeadId.AesSivCmac256, 0)]
    [InlineData(NtsAeadId.AesSivCmac256, 1)]
    [InlineData(NtsAeadId.AesSivCmac256, 7)]
    [InlineData(NtsAeadId.AesGcmSiv128, 0)]
    [InlineData(NtsAeadId.AesGcmSiv128, 1)]
    [InlineData(NtsAeadId.AesGcmSiv128, 7)]
    public void An_authentic_request_gets_a_cookie_for_the_one_used_and_each_placeholder(ushort aeadId, int placeholders)
    {
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(aeadId);
        byte[] uid = Bytes(32);
        byte[] cookie = Cookie(aeadId, c2s, s2c);
        byte[] request = Request(aeadId, c2s, uid, cookie, placeholders);
        var reply = new byte[ServerResponder.MaxReplyLength];

        int length = responder.Respond(request, Received, reply);

        Assert.InRange(length, NtpHeader.Size + 1, request.Length);
        List<NtsCookie> cookies = OpenReply(reply.AsSpan(0, length), aeadId, s2c, uid);
        Assert.Equal(1 + placeholders, cookies.Count);
        Assert.All(cookies, c =>
        {
            Assert.Equal(aeadId, c.AeadId);
            Assert.Equal(c2s, c.C2SKey);
            Assert.Equal(s2c, c.S2CKey);
        });

        // Fresh cookies, each under its own nonce: none is the one the client spent, no two alike (RFC 8915 §6).
        Assert.Equal(1, responder.Counters.Answered);
        Assert.Equal(0, responder.Counters.TotalDropped);
    }

    [Fact]
    public void A_reply_never_outgrows_its_request_so_a_tight_request_gets_fewer_cookies()
    {
        // A 12-octet nonce without §5.6's padding makes the request's authenticator 4 octets shorter than the reply's.
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(NtsAeadId.AesGcmSiv128);
        byte[] uid = Bytes(32);
        byte[] request = Request(NtsAeadId.AesGcmSiv128, c2s, uid, Cookie(NtsAeadId.AesGcmSiv128, c2s, s2c), placeholders: 2, padded: false);
        var reply = new byte[ServerResponder.MaxReplyLength];

        int length = responder.Respond(request, Received, reply);

        Assert.InRange(length, NtpHeader.Size + 1, request.Length);
        Assert.Equal(2, OpenReply(reply.AsSpan(0, length), NtsAeadId.AesGcmSiv128, s2c, uid).Count);

        // The reply's nonce field is padded to 16 octets (RFC 8915 §5.6): nonce length 12, field 8 + 16 + ciphertext.
        Assert.True(NtsFields.TryRead(reply.AsSpan(0, length), out NtsFields fields) == NtsFieldStatus.Ok);
        int authenticatorLength = BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(fields.AuthenticatorOffset + 2));
        Assert.Equal(8 + 16 + fields.Ciphertext.Length, authenticatorLength);
    }

    [Fact]
    public void A_request_longer_than_the_reply_buffer_is_answered_within_the_buffer()
    {
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(NtsAeadId.AesSivCmac256);
        byte[] uid = Bytes(32);
        byte[] request = Request(NtsAeadId.AesSivCmac256, c2s, uid, Cookie(NtsAeadId.AesSivCmac256, c2s, s2c), placeholders: 12);
        Assert.True(request.Length > ServerResponder.MaxReplyLength);
        var reply = new byte[ServerResponder.MaxReplyLength];

        int length = responder.Respond(request, Received, reply);

        // 48 + 36 + 40 of fixed parts leave room for 10 cookie fields of 108 octets in 1280.
        Assert.InRange(length, NtpHeader.Size + 1, ServerResponder.MaxReplyLength);
        Assert.Equal(10, OpenReply(reply.AsSpan(0, length), NtsAeadId.AesSivCmac256, s2c, uid).Count);
    }

    [Fact]
    public void Encrypted_fields_in_the_request_are_decrypted_and_ignored()
    {
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(NtsAeadId.AesSivCmac256);
        byte[] uid = Bytes(40);
        var field = new byte[16];
        ExtensionFieldWriter.Write(field, 0x7777, new byte[12]);
        byte[] request = Request(NtsAeadId.AesSivCmac256, c2s, uid, Cookie(NtsAeadId.AesSivCmac256, c2s, s2c), placeholders: 0, encrypted: field);
        var reply = new byte[ServerResponder.MaxReplyLength];

        int length = responder.Respond(request, Received, reply);

        Assert.Single(OpenReply(reply.AsSpan(0, length), NtsAeadId.AesSivCmac256, s2c, uid));
    }

    [Theory]
    [InlineData(NtsAeadId.AesSivCmac256)]
    [InlineData(NtsAeadId.AesGcmSiv128)]
    public void A_forged_cookie_gets_an_nts_nak_with_the_unique_identifier_and_no_time(ushort aeadId)
    {
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(aeadId);
        byte[] uid = Bytes(32);
        byte[] cookie = Cookie(aeadId, c2s, s2c);
        cookie[30] ^= 0x01;
        byte[] request = Request(aeadId, c2s, uid, cookie, placeholders: 1);
        var reply = new byte[ServerResponder.MaxReplyLength];

        int length = responder.Respond(request, Received, reply, AccessFlags.None, RateVerdict.Ok, out bool kissed);

        Assert.True(kissed);
        AssertNak(reply.AsSpan(0, length), uid);
        Assert.Equal(1, responder.Counters.Dropped(DropReason.NtsBadCookie));
        Assert.Equal(1, responder.Counters.Kisses);
        Assert.Equal(0, responder.Counters.Answered);
    }

    [Fact]
    public void A_cookie_from_a_rotated_away_master_key_gets_an_nts_nak()
    {
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(NtsAeadId.AesSivCmac256);
        byte[] uid = Bytes(32);
        byte[] cookie = Cookie(NtsAeadId.AesSivCmac256, c2s, s2c);
        _keys.Rotate(Day0.AddDays(1));
        _keys.Rotate(Day0.AddDays(2));
        Assert.Equal(CookieStatus.UnknownKey, _keys.Open(cookie, out _));
        var reply = new byte[ServerResponder.MaxReplyLength];

        int length = responder.Respond(Request(NtsAeadId.AesSivCmac256, c2s, uid, cookie, placeholders: 0), Received, reply);

        AssertNak(reply.AsSpan(0, length), uid);
        Assert.Equal(1, responder.Counters.Dropped(DropReason.NtsBadCookie));
    }

    [Fact]
    public void A_cookie_still_held_after_one_rotation_is_answered_with_cookies_of_the_new_key()
    {
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(NtsAeadId.AesSivCmac256);
        byte[] uid = Bytes(32);
        byte[] cookie = Cookie(NtsAeadId.AesSivCmac256, c2s, s2c);
        _keys.Rotate(Day0.AddDays(1));
        var reply = new byte[ServerResponder.MaxReplyLength];

        int length = responder.Respond(Request(NtsAeadId.AesSivCmac256, c2s, uid, cookie, placeholders: 0), Received, reply);

        Assert.Single(OpenReply(reply.AsSpan(0, length), NtsAeadId.AesSivCmac256, s2c, uid));
        Assert.True(NtsFields.TryRead(reply.AsSpan(0, length), out _) == NtsFieldStatus.Ok);
    }

    [Theory]
    [InlineData(NtsAeadId.AesSivCmac256, 1)]
    [InlineData(NtsAeadId.AesSivCmac256, 47)]
    [InlineData(NtsAeadId.AesGcmSiv128, 2)]
    [InlineData(NtsAeadId.AesGcmSiv128, 60)]
    public void A_request_altered_under_its_authenticator_gets_an_nts_nak_and_no_time(ushort aeadId, int offset)
    {
        // RFC 8915 §5.7: a server unable to "authenticate the request ... SHOULD respond with" an NTSN kiss.
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(aeadId);
        byte[] uid = Bytes(32);
        byte[] request = Request(aeadId, c2s, uid, Cookie(aeadId, c2s, s2c), placeholders: 1);
        byte[] original = uid.ToArray();
        request[offset] ^= 0x01;
        if (offset >= NtpHeader.Size + 4)
        {
            original[offset - NtpHeader.Size - 4] ^= 0x01;
        }

        var reply = new byte[ServerResponder.MaxReplyLength];
        int length = responder.Respond(request, Received, reply);

        NtpHeader.TryRead(request, out NtpHeader sent);
        Assert.True(length > 0);
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader header));
        Assert.True(NtsNak.IsNak(header));
        Assert.Equal(sent.TransmitTimestamp, header.TransmitTimestamp);
        Assert.Equal(NtpHeader.Size + 36, length);
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(reply.AsSpan(0, length), out NtsFields fields));
        Assert.Equal(original, fields.UniqueIdentifier.ToArray());
        Assert.False(fields.HasAuthenticator);
        Assert.Equal(1, responder.Counters.Dropped(DropReason.NtsBadAuth));
        Assert.Equal(0, responder.Counters.Answered);
    }

    [Fact]
    public void A_replayed_request_is_answered_once()
    {
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(NtsAeadId.AesSivCmac256);
        byte[] uid = Bytes(32);
        byte[] request = Request(NtsAeadId.AesSivCmac256, c2s, uid, Cookie(NtsAeadId.AesSivCmac256, c2s, s2c), placeholders: 1);
        var reply = new byte[ServerResponder.MaxReplyLength];

        Assert.True(responder.Respond(request, Received, reply) > NtpHeader.Size);
        Assert.Equal(0, responder.Respond(request, Received + NtpDuration.FromSeconds(1), reply));

        // A new request of the same session, with its own identifier, is answered.
        byte[] next = Request(NtsAeadId.AesSivCmac256, c2s, Bytes(32), Cookie(NtsAeadId.AesSivCmac256, c2s, s2c), placeholders: 0);
        Assert.True(responder.Respond(next, Received, reply) > NtpHeader.Size);
        Assert.Equal(2, responder.Counters.Answered);
        Assert.Equal(1, responder.Counters.Dropped(DropReason.NtsReplay));
    }

    [Fact]
    public void The_nts_counters_tell_good_requests_naks_replays_and_cookie_ages_apart()
    {
        // NTPsec's ntsinfo counters, which mode 6 reports: each request lands in exactly the counters it should.
        ServerResponder responder = Responder();
        const ushort aead = NtsAeadId.AesSivCmac256;
        (byte[] c2s, byte[] s2c) = SessionKeys(aead);
        var reply = new byte[ServerResponder.MaxReplyLength];
        byte[] current = Request(aead, c2s, Bytes(32), Cookie(aead, c2s, s2c), placeholders: 2);
        Assert.True(responder.Respond(current, Received, reply) > NtpHeader.Size);
        Assert.Equal(0, responder.Respond(current, Received, reply)); // the replay
        byte[] forged = Cookie(aead, c2s, s2c);
        forged[30] ^= 1;
        Assert.True(responder.Respond(Request(aead, c2s, Bytes(32), forged, placeholders: 0), Received, reply) > 0); // a NAK
        byte[] old = Cookie(aead, c2s, s2c);
        _keys.Rotate(Day0.AddDays(1));
        Assert.True(responder.Respond(Request(aead, c2s, Bytes(32), old, placeholders: 0), Received, reply) > NtpHeader.Size);
        _keys.Rotate(Day0.AddDays(2));
        Assert.True(responder.Respond(Request(aead, c2s, Bytes(32), old, placeholders: 0), Received, reply) > 0); // rotated away: a NAK

        NtsCounters n = responder.NtsCounters;
        Assert.Equal(2, n.ServerReceivedGood); // the first and the old key's: a replay is not good
        Assert.Equal(3, n.ServerReceivedBad); // the replay, the forged cookie, the rotated-away one
        Assert.Equal(4, n.ServerSent); // two answers, two NAKs
        Assert.Equal(2, n.NaksSent);
        Assert.Equal(3 + 1, n.CookiesMade);
        Assert.Equal(2, n.Decoded(0)); // the first and its replay
        Assert.Equal(1, n.Decoded(1));
        Assert.Equal(1, n.Decoded(NtsCounters.Ages - 1));
        Assert.Equal(1, n.DecodeErrors);
        Assert.Equal(0, n.ClientSent);
    }

    [Fact]
    public void The_replay_filter_remembers_many_identifiers_and_forgets_within_its_capacity()
    {
        var filter = new NtsReplayFilter(new SeededRandomSource(3));
        var random = new SeededRandomSource(4);
        var uids = new List<byte[]>();
        for (int i = 0; i < 10_000; i++)
        {
            var uid = new byte[32];
            BinaryPrimitives.WriteUInt64LittleEndian(uid, random.NextUInt64());
            BinaryPrimitives.WriteUInt64LittleEndian(uid.AsSpan(8), random.NextUInt64());
            uids.Add(uid);
            Assert.True(filter.TryAdd(uid));
        }

        // 10 000 in 65 536 slots: the sets hardly overflow, so nearly all are still known.
        int remembered = uids.Count(u => !filter.TryAdd(u));
        Assert.InRange(remembered, 9_900, 10_000);
    }

    [Fact]
    public void Without_nts_keys_an_nts_request_gets_a_plain_reply()
    {
        ServerResponder responder = Responder(nts: false);
        (byte[] c2s, byte[] s2c) = SessionKeys(NtsAeadId.AesSivCmac256);
        byte[] request = Request(NtsAeadId.AesSivCmac256, c2s, Bytes(32), Cookie(NtsAeadId.AesSivCmac256, c2s, s2c), placeholders: 1);
        var reply = new byte[ServerResponder.MaxReplyLength];

        Assert.Equal(NtpHeader.Size, responder.Respond(request, Received, reply));
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader header));
        Assert.Equal(Transmit, header.TransmitTimestamp);
        Assert.Equal(1, responder.Counters.Answered);
    }

    [Fact]
    public void Malformed_nts_requests_are_dropped_without_an_answer()
    {
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(NtsAeadId.AesSivCmac256);
        byte[] cookie = Cookie(NtsAeadId.AesSivCmac256, c2s, s2c);
        var reply = new byte[ServerResponder.MaxReplyLength];

        // No Unique Identifier: nothing a NAK could echo (RFC 8915 §5.7 requires exactly one).
        Assert.Equal(0, responder.Respond(Request(NtsAeadId.AesSivCmac256, c2s, [], cookie, 1, withUid: false), Received, reply));

        // A placeholder shorter than the cookie would ask for a reply larger than the request (RFC 8915 §5.5).
        Assert.Equal(0, responder.Respond(Request(NtsAeadId.AesSivCmac256, c2s, Bytes(32), cookie, 2, placeholderLength: 40), Received, reply));

        Assert.Equal(2, responder.Counters.Dropped(DropReason.NtsMalformed));
        Assert.Equal(0, responder.Counters.Kisses);
    }

    [Fact]
    public void Noserve_refuses_an_nts_request_before_any_cryptography()
    {
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(NtsAeadId.AesSivCmac256);
        byte[] request = Request(NtsAeadId.AesSivCmac256, c2s, Bytes(32), Cookie(NtsAeadId.AesSivCmac256, c2s, s2c), 0);

        Assert.Equal(0, responder.Respond(request, Received, new byte[ServerResponder.MaxReplyLength], AccessFlags.NoServe, RateVerdict.Ok));
        Assert.Equal(1, responder.Counters.Dropped(DropReason.Restricted));
        Assert.Equal(0, responder.Counters.Dropped(DropReason.NtsReplay));
    }

    [Fact]
    public void A_limited_address_over_its_rate_is_refused_before_its_cookie_is_looked_at()
    {
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(NtsAeadId.AesSivCmac256);
        byte[] cookie = Cookie(NtsAeadId.AesSivCmac256, c2s, s2c);
        cookie[40] ^= 0xFF;
        byte[] request = Request(NtsAeadId.AesSivCmac256, c2s, Bytes(32), cookie, 0);

        Assert.Equal(0, responder.Respond(request, Received, new byte[ServerResponder.MaxReplyLength], AccessFlags.Limited, RateVerdict.Limited));
        Assert.Equal(1, responder.Counters.Dropped(DropReason.Limited));
        Assert.Equal(0, responder.Counters.Dropped(DropReason.NtsBadCookie));
    }

    [Fact]
    public void An_nts_authenticated_request_satisfies_notrust()
    {
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(NtsAeadId.AesGcmSiv128);
        byte[] uid = Bytes(32);
        byte[] request = Request(NtsAeadId.AesGcmSiv128, c2s, uid, Cookie(NtsAeadId.AesGcmSiv128, c2s, s2c), 1);
        var reply = new byte[ServerResponder.MaxReplyLength];

        int length = responder.Respond(request, Received, reply, AccessFlags.NoTrust, RateVerdict.Ok);

        Assert.Equal(2, OpenReply(reply.AsSpan(0, length), NtsAeadId.AesGcmSiv128, s2c, uid).Count);
        Assert.Equal(0, responder.Counters.Dropped(DropReason.Restricted));
    }

    [Theory]
    [InlineData(NtsAeadId.AesSivCmac256)]
    [InlineData(NtsAeadId.AesGcmSiv128)]
    public void An_nts_request_and_reply_allocate_nothing(ushort aeadId)
    {
        // The cookie is opened and the new ones sealed under the master key's kept AEAD; the session keys change per
        // request, so the C2S and S2C schedules are rebuilt into this thread's buffers rather than new objects.
        ServerResponder responder = Responder();
        (byte[] c2s, byte[] s2c) = SessionKeys(aeadId);
        byte[] cookie = Cookie(aeadId, c2s, s2c);
        const int warm = 2_000, measured = 1_000;
        byte[][] requests = Enumerable.Range(0, warm + measured).Select(_ => Request(aeadId, c2s, Bytes(32), cookie, 1)).ToArray();
        var reply = new byte[ServerResponder.MaxReplyLength];
        // Warmed past tiered compilation's call-count threshold, whose bookkeeping is not the responder's.
        for (int i = 0; i < warm; i++)
        {
            Assert.True(responder.Respond(requests[i], Received, reply) > NtpHeader.Size);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = warm; i < warm + measured; i++)
        {
            responder.Respond(requests[i], Received, reply);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(warm + measured, responder.Counters.Answered);
        if (Aes128.Accelerated)
        {
            Assert.Equal(0, allocated);
        }
        else
        {
            // Without AES instructions each schedule is a platform transform: two per request, bounded.
            Assert.InRange(allocated / measured, 1, 4096);
        }

        // The reused schedules still give replies that authenticate, with both cookies.
        byte[] uid = Bytes(32);
        int length = responder.Respond(Request(aeadId, c2s, uid, cookie, 1), Received, reply);
        Assert.Equal(2, OpenReply(reply.AsSpan(0, length), aeadId, s2c, uid).Count);
    }

    [Fact]
    public void Plain_ntp_allocates_nothing_on_a_server_with_nts()
    {
        // Plain NTP on a server that also serves NTS stays at 0 B.
        ServerResponder responder = Responder();
        var request = new byte[NtpHeader.Size];
        new NtpHeader { Version = 4, Mode = NtpMode.Client, TransmitTimestamp = ClientTransmit }.Write(request);
        var reply = new byte[ServerResponder.MaxReplyLength];
        // Warmed well past tiered compilation's call-count threshold, whose bookkeeping is not the responder's.
        for (int i = 0; i < 2_000; i++)
        {
            Assert.Equal(NtpHeader.Size, responder.Respond(request, Received, reply));
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            responder.Respond(request, Received, reply);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
