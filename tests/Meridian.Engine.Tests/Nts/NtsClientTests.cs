using System.Net;
using Meridian.Engine.Nts;
using Meridian.Protocol;
using Meridian.Protocol.Nts;

namespace Meridian.Engine.Tests.Nts;

/// <summary>
/// A minimal NTS server written for the tests (RFC 8915 §5.7 server side): it opens the request's cookie with its
/// master keys, checks the authenticator with C2S, and answers with our identifier, fresh cookies sealed under the
/// S2C key, and the timestamps the test gives.
/// </summary>
internal sealed class TestNtsServer(ServerCookieKeys keys)
{
    public ServerCookieKeys Keys { get; } = keys;

    /// <summary>The reply to <paramref name="request"/>, or null when the request does not verify.</summary>
    public byte[]? Answer(byte[] request, NtpTimestamp receive, NtpTimestamp transmit, byte stratum = 1)
    {
        if (NtsFields.TryRead(request, out NtsFields fields) != NtsFieldStatus.Ok || !fields.HasAuthenticator
            || OpenPadded(fields.Cookie) is not NtsCookie cookie)
        {
            return null;
        }

        using INtsAead c2s = NtsAead.Create(cookie.AeadId, cookie.C2SKey)!;
        using INtsAead s2c = NtsAead.Create(cookie.AeadId, cookie.S2CKey)!;
        if (!c2s.TryOpen(fields.Nonce, fields.AssociatedData, fields.Ciphertext, new byte[fields.Ciphertext.Length], out int plainLength) || plainLength != 0)
        {
            return null;
        }

        NtpHeader.TryRead(request, out NtpHeader asked);
        var header = new NtpHeader
        {
            Version = 4, Mode = NtpMode.Server, Stratum = stratum, Precision = -20, Poll = asked.Poll,
            ReferenceId = ReferenceId.FromAscii("GPS"), ReferenceTimestamp = receive,
            OriginTimestamp = asked.TransmitTimestamp, ReceiveTimestamp = receive, TransmitTimestamp = transmit,
        };

        // The plaintext: one new cookie for the one used and one per placeholder.
        int cookieLength = ServerCookieKeys.CookieLength(cookie.AeadId)!.Value;
        var plaintext = new List<byte>();
        byte[] one = new byte[cookieLength], field = new byte[NtsFieldWriter.FieldLength(cookieLength)];
        for (int i = 0; i < 1 + fields.PlaceholderCount; i++)
        {
            Keys.Seal(cookie.AeadId, cookie.C2SKey, cookie.S2CKey, one);
            plaintext.AddRange(field.AsSpan(0, NtsFieldWriter.WriteCookie(field, one)).ToArray());
        }

        byte[] reply = new byte[2000];
        header.Write(reply);
        int position = NtpHeader.Size + NtsFieldWriter.WriteUniqueIdentifier(reply.AsSpan(NtpHeader.Size), fields.UniqueIdentifier);
        byte[] nonce = new byte[s2c.NonceLength];
        Random.Shared.NextBytes(nonce);
        byte[] sealedPart = new byte[plaintext.Count + s2c.Overhead];
        s2c.Seal(nonce, reply.AsSpan(0, position), plaintext.ToArray(), sealedPart);
        position += NtsFieldWriter.WriteAuthenticator(reply.AsSpan(position), nonce, sealedPart, Math.Max(0, 16 - nonce.Length));
        return reply[..position];
    }

    /// <summary>
    /// Opens a cookie as it comes in a Cookie field: padded to four octets (RFC 7822 §3), so the sealed length of
    /// each AEAD is tried.
    /// </summary>
    public NtsCookie? OpenPadded(ReadOnlySpan<byte> body)
    {
        foreach (ushort id in NtsAead.Supported)
        {
            int length = ServerCookieKeys.CookieLength(id)!.Value;
            if (length <= body.Length && body.Length - length < 4 && Keys.Open(body[..length], out NtsCookie? cookie) == CookieStatus.Opened)
            {
                return cookie;
            }
        }

        return null;
    }

    /// <summary>An NTS NAK (RFC 8915 §5.7): NTSN kiss echoing the request's identifier, no authenticator.</summary>
    public static byte[] Nak(byte[] request)
    {
        NtsFields.TryRead(request, out NtsFields fields);
        NtpHeader.TryRead(request, out NtpHeader asked);
        byte[] reply = new byte[200];
        new NtpHeader
        {
            Version = 4, Mode = NtpMode.Server, Stratum = 0, Leap = LeapIndicator.Unsynchronized,
            ReferenceId = KissCode.Ntsn, OriginTimestamp = asked.TransmitTimestamp,
        }.Write(reply);
        int length = NtpHeader.Size + NtsFieldWriter.WriteUniqueIdentifier(reply.AsSpan(NtpHeader.Size), fields.UniqueIdentifier);
        return reply[..length];
    }
}

public sealed class NtsClientTests
{
    private static readonly DateTime Now = new(2026, 12, 2, 15, 0, 0, DateTimeKind.Utc);
    private static readonly NtpTimestamp Start = NtpTimestamp.FromDateTime(Now);

    /// <summary>A server's cookie keys, keys as NTS-KE would export them, and a client state holding its cookies.</summary>
    private static (NtsClientState Client, TestNtsServer Server, byte[] C2S, byte[] S2C) Setup(ushort aeadId = NtsAeadId.AesSivCmac256, int cookies = 8)
    {
        var random = new SeededRandomSource(7);
        var server = new TestNtsServer(new ServerCookieKeys(random, Now));
        int keyLength = NtsAead.KeyLength(aeadId)!.Value;
        byte[] c2s = Enumerable.Range(1, keyLength).Select(i => (byte)i).ToArray();
        byte[] s2c = Enumerable.Range(101, keyLength).Select(i => (byte)i).ToArray();
        var jar = new List<byte[]>();
        for (int i = 0; i < cookies; i++)
        {
            byte[] cookie = new byte[ServerCookieKeys.CookieLength(aeadId)!.Value];
            server.Keys.Seal(aeadId, c2s, s2c, cookie);
            jar.Add(cookie);
        }

        return (NtsClientState.FromKeyExchange(aeadId, c2s, s2c, jar, "ntp.example", 4123), server, c2s, s2c);
    }

    private static byte[] Request(NtsClientState client, IRandomSource random, out NtpTimestamp transmit)
    {
        byte[] packet = new byte[NtsClientState.MaxRequestLength];
        transmit = new NtpTimestamp(random.NextUInt64() | 1);
        new NtpHeader { Version = 4, Mode = NtpMode.Client, TransmitTimestamp = transmit }.Write(packet);
        int length = client.WriteRequestFields(packet, NtpHeader.Size, random);
        return packet[..length];
    }

    [Theory]
    [InlineData(NtsAeadId.AesSivCmac256)]
    [InlineData(NtsAeadId.AesGcmSiv128)]
    public void A_request_carries_identifier_one_cookie_placeholders_and_an_authenticator_that_opens_with_c2s(ushort aeadId)
    {
        var (client, server, c2sKey, _) = Setup(aeadId, cookies: 5);
        var random = new SeededRandomSource(3);

        byte[] request = Request(client, random, out _);

        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(request, out NtsFields fields));
        Assert.Equal(32, fields.UniqueIdentifier.Length);
        // The cookie field's body is the cookie padded to four octets (RFC 7822 §3).
        Assert.Equal(NtsFieldWriter.FieldLength(ServerCookieKeys.CookieLength(aeadId)!.Value) - 4, fields.Cookie.Length);
        Assert.Equal(c2sKey, server.OpenPadded(fields.Cookie)!.C2SKey);

        // 5 cookies, one sent, 4 left: 8 − 4 − 1 = 3 placeholders bring the jar back to 8 (RFC 8915 §5.7).
        Assert.Equal(3, fields.PlaceholderCount);
        Assert.True(fields.PlaceholdersMatchCookie);
        Assert.Equal(4, client.CookieCount);
        Assert.Equal(0, fields.FieldsAfterAuthenticator);
        // Both AEADs: 8 octets of lengths, nonce padded to 16 (GCM-SIV's 12 plus 4 of padding, RFC 8915 §5.6), 16 of tag.
        Assert.Equal(request.Length - 40, fields.AuthenticatorOffset);

        using INtsAead c2s = NtsAead.Create(aeadId, c2sKey)!;
        byte[] plain = new byte[64];
        Assert.True(c2s.TryOpen(fields.Nonce, fields.AssociatedData, fields.Ciphertext, plain, out int written));
        Assert.Equal(0, written);

        // The associated data covers the header: one flipped bit there and the tag fails.
        request[1] ^= 1;
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(request, out NtsFields flipped));
        Assert.False(c2s.TryOpen(flipped.Nonce, flipped.AssociatedData, flipped.Ciphertext, plain, out _));
    }

    [Fact]
    public void Each_cookie_is_sent_once_and_a_full_jar_asks_for_no_placeholders()
    {
        var (client, _, _, _) = Setup();
        var random = new SeededRandomSource(3);
        var seen = new HashSet<string>();
        var placeholders = new List<int>();
        var identifiers = new HashSet<string>();
        for (int i = 0; i < 8; i++)
        {
            byte[] request = Request(client, random, out _);
            NtsFields.TryRead(request, out NtsFields fields);
            Assert.True(seen.Add(Convert.ToHexString(fields.Cookie)), "a cookie went out twice");
            Assert.True(identifiers.Add(Convert.ToHexString(fields.UniqueIdentifier)));
            placeholders.Add(fields.PlaceholderCount);
        }

        Assert.Equal(new[] { 0, 1, 2, 3, 4, 5, 6, 7 }, placeholders);
        Assert.Equal(0, client.CookieCount);
        Assert.True(client.NeedsKeyExchange);
        Assert.Throws<InvalidOperationException>(() => Request(client, random, out _));
    }

    [Fact]
    public void An_authentic_reply_is_accepted_and_refills_the_jar()
    {
        var (client, server, _, _) = Setup(cookies: 3);
        byte[] request = Request(client, new SeededRandomSource(3), out _);
        Assert.Equal(2, client.CookieCount);

        byte[] reply = server.Answer(request, Start, Start + NtpDuration.FromSeconds(0.0001))!;

        Assert.Equal(NtsReplyCheck.Ok, client.CheckReply(reply));
        Assert.Equal(8, client.CookieCount);
        Assert.False(client.NeedsKeyExchange);

        // One answer per request: the same reply again is dropped.
        Assert.Equal(NtsReplyCheck.Bad, client.CheckReply(reply));
        Assert.Equal(8, client.CookieCount);
    }

    [Fact]
    public void New_cookies_from_a_reply_are_ones_the_server_can_open()
    {
        var (client, server, c2sKey, s2cKey) = Setup(cookies: 1);
        byte[] reply = server.Answer(Request(client, new SeededRandomSource(3), out _), Start, Start)!;
        Assert.Equal(NtsReplyCheck.Ok, client.CheckReply(reply));
        Assert.Equal(8, client.CookieCount);

        byte[] next = Request(client, new SeededRandomSource(4), out _);
        NtsFields.TryRead(next, out NtsFields fields);
        NtsCookie cookie = server.OpenPadded(fields.Cookie)!;
        Assert.Equal(c2sKey, cookie.C2SKey);
        Assert.Equal(s2cKey, cookie.S2CKey);
    }

    [Fact]
    public void A_reply_with_another_identifier_is_rejected()
    {
        var (client, server, _, _) = Setup();
        byte[] request = Request(client, new SeededRandomSource(3), out _);
        NtsFields.TryRead(request, out NtsFields fields);
        int uid = NtpHeader.Size + 4;
        Assert.Equal(fields.UniqueIdentifier.ToArray(), request[uid..(uid + 32)]);

        // The server answers a request whose identifier differs from ours (and re-authenticates it properly).
        byte[] other = (byte[])request.Clone();
        other[uid] ^= 0xFF;
        byte[] reply = server.Answer(ResealRequest(other, client), Start, Start)!;

        Assert.Equal(NtsReplyCheck.Bad, client.CheckReply(reply));
        Assert.Equal(7, client.CookieCount);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(40)]
    [InlineData(47)]
    [InlineData(NtpHeader.Size + 10)]
    public void A_reply_with_a_flipped_byte_is_rejected(int index)
    {
        var (client, server, _, _) = Setup();
        byte[] reply = server.Answer(Request(client, new SeededRandomSource(3), out _), Start, Start)!;
        reply[index] ^= 0x01;

        Assert.Equal(NtsReplyCheck.Bad, client.CheckReply(reply));
        Assert.Equal(7, client.CookieCount);
        Assert.True(client.HasOutstandingRequest);
    }

    [Fact]
    public void A_reply_without_authenticator_is_rejected_even_with_our_identifier()
    {
        var (client, server, _, _) = Setup();
        byte[] reply = server.Answer(Request(client, new SeededRandomSource(3), out _), Start, Start)!;
        NtsFields.TryRead(reply, out NtsFields fields);
        byte[] stripped = reply[..fields.AuthenticatorOffset];

        Assert.Equal(NtsReplyCheck.Bad, client.CheckReply(stripped));

        // The intact reply still counts afterwards: the forgery did not consume the request.
        Assert.Equal(NtsReplyCheck.Ok, client.CheckReply(reply));
    }

    [Fact]
    public void A_nak_with_our_identifier_needs_key_exchange_and_an_authentic_reply_to_the_same_request_undoes_it()
    {
        var (client, server, _, _) = Setup();
        byte[] request = Request(client, new SeededRandomSource(3), out _);

        Assert.Equal(NtsReplyCheck.Nak, client.CheckReply(TestNtsServer.Nak(request)));
        Assert.True(client.NakReceived);
        Assert.True(client.NeedsKeyExchange);

        // RFC 8915 §5.7: a NAK cannot be authenticated, so a valid reply before the next poll still wins.
        Assert.Equal(NtsReplyCheck.Ok, client.CheckReply(server.Answer(request, Start, Start)!));
        Assert.False(client.NeedsKeyExchange);
    }

    [Fact]
    public void A_nak_without_our_identifier_is_ignored()
    {
        var (client, _, _, _) = Setup();
        byte[] request = Request(client, new SeededRandomSource(3), out _);
        byte[] nak = TestNtsServer.Nak(request);
        nak[NtpHeader.Size + 4] ^= 1;

        Assert.Equal(NtsReplyCheck.Bad, client.CheckReply(nak));
        Assert.False(client.NeedsKeyExchange);

        // A bare NTSN kiss, no identifier at all.
        Assert.Equal(NtsReplyCheck.Bad, client.CheckReply(nak[..NtpHeader.Size]));
        Assert.False(client.NakReceived);
    }

    [Fact]
    public void Unsupported_aead_or_wrong_key_length_throws_and_disposed_state_needs_key_exchange()
    {
        Assert.Throws<ArgumentException>(() => NtsClientState.FromKeyExchange(99, new byte[32], new byte[32], [new byte[100]]));
        Assert.Throws<ArgumentException>(() => NtsClientState.FromKeyExchange(NtsAeadId.AesSivCmac256, new byte[16], new byte[32], [new byte[100]]));
        var (client, _, _, _) = Setup();
        Assert.Equal("ntp.example", client.Server);
        Assert.Equal(4123, client.Port);
        client.Dispose();
        Assert.True(client.NeedsKeyExchange);
        Assert.Equal(0, client.CookieCount);
    }

    /// <summary>Re-authenticates a modified request with the client's C2S key, as a server would see a genuine one.</summary>
    private static byte[] ResealRequest(byte[] request, NtsClientState client)
    {
        NtsFields.TryRead(request, out NtsFields fields);
        byte[] copy = (byte[])request.Clone();
        int offset = fields.AuthenticatorOffset;
        byte[] nonce = fields.Nonce.ToArray();
        byte[] tag = new byte[client.ClientToServer.Overhead];
        client.ClientToServer.Seal(nonce, copy.AsSpan(0, offset), [], tag);
        NtsFieldWriter.WriteAuthenticator(copy.AsSpan(offset), nonce, tag);
        return copy;
    }

    // --- The engine: an NTS association against the test server ---

    private static (NtpEngine Engine, RecordingTransport Transport, FixedClock Clock, Association Association, IPEndPoint Server) Engine()
    {
        var clock = new FixedClock(Start);
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings(), clock, NoClockControl.Instance, transport, new SeededRandomSource(1));
        var server = new IPEndPoint(IPAddress.Parse("198.18.0.1"), 123);
        Association association = engine.Add(new AssociationSettings(server) { Nts = true });
        return (engine, transport, clock, association, server);
    }

    [Fact]
    public void Keys_are_refused_for_an_association_not_configured_for_nts()
    {
        var (engine, _, _, _, _) = Engine();
        Association plain = engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("198.18.0.2"), 123)));
        Association peer = engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("198.18.0.3"), 123)) { Nts = true, Mode = AssociationMode.SymmetricActive });
        var (state, _, _, _) = Setup();

        Assert.Throws<ArgumentException>(() => engine.SetNts(plain, state));
        Assert.Throws<ArgumentException>(() => engine.SetNts(peer, state));
        Assert.Null(plain.NtsState);
        Assert.False(plain.NeedsKeyExchange);
    }

    [Fact]
    public void An_nts_association_without_keys_sends_nothing_and_asks_for_key_exchange_once()
    {
        var (engine, transport, _, association, _) = Engine();
        Assert.True(association.NeedsKeyExchange);

        for (int t = 0; t < 200; t++)
        {
            engine.Tick(t);
        }

        Assert.Empty(transport.Sent);
        Assert.Single(engine.KeyExchangeRequests);
        Assert.Same(association, engine.KeyExchangeRequests.Peek());
    }

    [Fact]
    public void The_engine_synchronizes_over_nts_and_drops_forged_replies()
    {
        var (engine, transport, _, association, server) = Engine();
        var (state, nts, _, _) = Setup(cookies: 2);
        engine.Tick(0);
        engine.SetNts(association, state);
        Assert.False(association.NeedsKeyExchange);
        Assert.Equal(2, association.NtsCookies);

        engine.Tick(1);
        Assert.Single(transport.Sent);
        byte[] request = transport.Sent[0].Packet;
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(request, out NtsFields fields));
        Assert.True(fields.HasAuthenticator);
        Assert.Equal(1, association.NtsCookies);

        // The server's clock is 5 ms ahead; 1 ms each way.
        NtpTimestamp receive = Start + NtpDuration.FromSeconds(0.006);
        byte[] reply = nts.Answer(request, receive, receive + NtpDuration.FromSeconds(0.0001))!;

        // A man in the middle flips a timestamp byte: dropped before it becomes a sample.
        byte[] forged = (byte[])reply.Clone();
        forged[45] ^= 0x40;
        engine.Receive(forged, server, Start + NtpDuration.FromSeconds(0.0021), 1.002);
        Assert.Equal(0, association.Filter.Count);
        Assert.Equal(0, association.Reach & 1);
        Assert.Equal(1, association.BogusNts);
        Assert.Equal(0, association.Received);

        engine.Receive(reply, server, Start + NtpDuration.FromSeconds(0.0021), 1.002);
        Assert.Equal(1, association.Filter.Count);
        Assert.True(association.Authentic);
        Assert.Equal(1, association.Reach & 1);
        Assert.Equal(0.005, association.LastSample.Offset.ToSeconds(), 4);
        Assert.Equal(8, association.NtsCookies);

        // A replay of the good reply is dropped by the NTS check too.
        engine.Receive(reply, server, Start + NtpDuration.FromSeconds(0.003), 1.003);
        Assert.Equal(2, association.BogusNts);
        Assert.Equal(1, association.Filter.Count);
    }

    /// <summary>A mode 6 READVAR of <paramref name="names"/> for <paramref name="association"/>: the answer's text on one line.</summary>
    private static string ReadVariables(NtpEngine engine, RecordingTransport transport, int association, string names = "")
    {
        var request = new byte[(12 + names.Length + 3) & ~3];
        new ControlHeader { Version = 2, Opcode = ControlOpcode.ReadVariables, Sequence = 7, AssociationId = (ushort)association }
            .Write(request, System.Text.Encoding.ASCII.GetBytes(names));
        transport.Sent.Clear();
        engine.Receive(request, new IPEndPoint(IPAddress.Loopback, 40123), Start, 50);
        string text = string.Concat(transport.Sent.Select(s =>
        {
            Assert.True(ControlHeader.TryRead(s.Packet, out ControlHeader header, out ReadOnlySpan<byte> data, out _));
            Assert.False(header.IsError, $"error {header.Status >> 8} for '{names}'");
            return System.Text.Encoding.ASCII.GetString(data);
        }));
        transport.Sent.Clear();
        return text.Replace(",\r\n", ", ", StringComparison.Ordinal);
    }

    [Fact]
    public void Mode_6_shows_the_cookies_the_key_exchanges_the_naks_and_the_last_failure()
    {
        var (engine, transport, _, association, server) = Engine();
        Association plain = engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("198.18.0.9"), 123)));
        engine.Tick(0);

        // No keys yet: NTPsec's -1, so its ntpq shows 'u'; nothing exchanged.
        string before = ReadVariables(engine, transport, association.Id);
        Assert.Contains("ntscookies=-1, ntsaead=0, ntskeserver=\"198.18.0.1\", ntsnaks=0, ntskegood=0, ntskebad=0", before, StringComparison.Ordinal);
        Assert.DoesNotContain("ntskefail", before, StringComparison.Ordinal);

        engine.KeyExchangeFailed(association, "NameMismatch: the certificate is for ntp.test, not \"x\"");
        Assert.Equal("ntskebad=1, ntskefail=\"NameMismatch: the certificate is for ntp.test, not 'x'\"", ReadVariables(engine, transport, association.Id, "ntskebad,ntskefail"));

        var (state, nts, _, _) = Setup(cookies: 2);
        engine.SetNts(association, state);
        Assert.Equal("ntscookies=2, ntsaead=15, ntskegood=1", ReadVariables(engine, transport, association.Id, "ntscookies,ntsaead,ntskegood"));
        engine.Tick(1);
        byte[] request = Assert.Single(transport.Sent, s => s.To.Equals(server)).Packet;
        Assert.Equal("ntscookies=1", ReadVariables(engine, transport, association.Id, "ntscookies"));
        byte[] reply = nts.Answer(request, Start, Start)!;
        engine.Receive(reply, server, Start, 1.002);
        Assert.Equal("ntscookies=8", ReadVariables(engine, transport, association.Id, "ntscookies"));
        engine.Receive(TestNtsServer.Nak(request), server, Start, 1.003); // answered already: it is no NAK to an outstanding request
        Assert.Equal("ntsnaks=0", ReadVariables(engine, transport, association.Id, "ntsnaks"));
        Assert.Equal("nts_client_send=1, nts_client_recv_good=1, nts_client_recv_bad=1", ReadVariables(engine, transport, 0, "nts_client_send,nts_client_recv_good,nts_client_recv_bad"));

        // A plain association lists none of it (ntpd's variables), and says -1 when asked, as NTPsec.
        string other = ReadVariables(engine, transport, plain.Id);
        Assert.DoesNotContain("nts", other, StringComparison.Ordinal);
        Assert.Equal("ntscookies=-1", ReadVariables(engine, transport, plain.Id, "ntscookies"));
    }

    [Fact]
    public void After_a_nak_the_association_stops_polling_until_new_keys_come()
    {
        var (engine, transport, _, association, server) = Engine();
        var (state, nts, c2s, s2c) = Setup(cookies: 8);
        engine.Tick(0);
        engine.SetNts(association, state);
        engine.Tick(1);
        Assert.Single(transport.Sent);

        engine.Receive(TestNtsServer.Nak(transport.Sent[0].Packet), server, Start, 1.01);
        Assert.Equal(1, association.NtsNaks);
        Assert.Equal(0, association.Filter.Count);
        Assert.True(association.NeedsKeyExchange);
        Assert.Empty(engine.KeyExchangeRequests);

        for (int t = 2; t < 600; t++)
        {
            engine.Tick(t);
        }

        Assert.Single(transport.Sent);
        Assert.Single(engine.KeyExchangeRequests);

        // New keys: polling resumes at the next tick.
        engine.KeyExchangeRequests.Clear();
        var jar = new List<byte[]>();
        for (int i = 0; i < 8; i++)
        {
            byte[] cookie = new byte[ServerCookieKeys.CookieLength(NtsAeadId.AesSivCmac256)!.Value];
            nts.Keys.Seal(NtsAeadId.AesSivCmac256, c2s, s2c, cookie);
            jar.Add(cookie);
        }

        engine.SetNts(association, NtsClientState.FromKeyExchange(NtsAeadId.AesSivCmac256, c2s, s2c, jar));
        engine.Tick(600);
        Assert.Equal(2, transport.Sent.Count);
        Assert.True(state.NeedsKeyExchange, "the old state was disposed");
    }

    [Fact]
    public void Eight_unanswered_requests_use_up_the_jar_and_then_key_exchange_is_asked_for()
    {
        var (engine, transport, _, association, _) = Engine();
        var (state, _, _, _) = Setup(cookies: 8);
        engine.Tick(0);
        engine.SetNts(association, state);
        for (int t = 1; t < 20000 && !association.NeedsKeyExchange; t++)
        {
            engine.Tick(t);
        }

        Assert.Equal(8, transport.Sent.Count);
        Assert.Equal(0, association.NtsCookies);
        Assert.True(association.NeedsKeyExchange);
        int sent = transport.Sent.Count;
        for (int t = 20000; t < 22000; t++)
        {
            engine.Tick(t);
        }

        Assert.Equal(sent, transport.Sent.Count);
        Assert.Single(engine.KeyExchangeRequests);
    }
}
