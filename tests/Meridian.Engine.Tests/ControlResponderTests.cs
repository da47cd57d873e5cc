using System.Net;
using System.Text;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Engine.Tests;

public sealed class ControlResponderTests
{
    private static readonly NtpTimestamp Start = NtpTimestamp.FromDateTime(new DateTime(2026, 11, 22, 10, 0, 0, DateTimeKind.Utc));
    private static readonly IPEndPoint Querier = new(IPAddress.Loopback, 40123);

    /// <summary>An engine synchronized to its local clock, as ./run.sh runs it.</summary>
    private static (NtpEngine Engine, RecordingTransport Transport) LocalClockEngine()
    {
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings { Host = new HostDescription("ntpd test", "x86_64", "Linux/6.1") }, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(1));
        engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("127.127.1.0"), 123))
        {
            Mode = AssociationMode.Refclock, RefclockType = 1, RefclockStratum = 10, RefclockId = ReferenceId.FromAscii("LOCL"),
        });
        for (int t = 0; t < 12; t++)
        {
            engine.Tick(t);
        }

        transport.Sent.Clear();
        return (engine, transport);
    }

    private static List<(ControlHeader Header, string Data)> Ask(NtpEngine engine, RecordingTransport transport, ControlOpcode opcode, ushort association = 0, string data = "") =>
        AskRaw(engine, transport, opcode, association, data).Select(r => (r.Header, Encoding.ASCII.GetString(r.Data))).ToList();

    private static List<(ControlHeader Header, byte[] Data)> AskRaw(NtpEngine engine, RecordingTransport transport, ControlOpcode opcode, ushort association = 0, string data = "")
    {
        var request = new byte[(12 + data.Length + 3) & ~3];
        new ControlHeader { Version = 2, Opcode = opcode, Sequence = 99, AssociationId = association }.Write(request, Encoding.ASCII.GetBytes(data));
        transport.Sent.Clear();
        engine.Receive(request, Querier, Start, 20);
        return transport.Sent.Select(s =>
        {
            Assert.True(ControlHeader.TryRead(s.Packet, out ControlHeader h, out ReadOnlySpan<byte> d, out _));
            Assert.Equal(Querier, s.To);
            return (h, d.ToArray());
        }).ToList();
    }

    [Fact]
    public void Readstat_lists_associations_with_their_status_words()
    {
        (NtpEngine engine, RecordingTransport transport) = LocalClockEngine();
        (ControlHeader header, byte[] bytes) = Assert.Single(AskRaw(engine, transport, ControlOpcode.ReadStatus));

        Assert.True(header is { IsResponse: true, IsError: false, More: false, Sequence: 99, Opcode: ControlOpcode.ReadStatus });
        Assert.Equal(0x0500, header.Status & 0xFF00); // leap_none, sync_local
        Assert.Equal(5, header.Status & 0xF); // clock_sync
        Assert.Equal(4, bytes.Length);
        Assert.Equal(1, (bytes[0] << 8) | bytes[1]);
        int status = (bytes[2] << 8) | bytes[3];
        Assert.Equal(0x12, status >> 11); // configured, reachable
        Assert.Equal(6, (status >> 8) & 7); // sys.peer
        Assert.Equal((int)PeerEvent.SystemPeer, status & 0xF);
    }

    [Fact]
    public void Readvar_gives_system_and_peer_variables_all_or_by_name()
    {
        (NtpEngine engine, RecordingTransport transport) = LocalClockEngine();
        string system = string.Concat(Ask(engine, transport, ControlOpcode.ReadVariables).Select(r => r.Data));
        Assert.Contains("version=\"ntpd test\"", system, StringComparison.Ordinal);
        Assert.Contains("stratum=11", system, StringComparison.Ordinal);
        Assert.Contains("refid=127.127.1.0", system, StringComparison.Ordinal); // stratum 11: the source's address, as ntpd
        Assert.Contains("peer=1", system, StringComparison.Ordinal);
        Assert.Matches(@"reftime=0x[0-9a-f]{8}\.[0-9a-f]{8}", system);

        (ControlHeader _, string some) = Assert.Single(Ask(engine, transport, ControlOpcode.ReadVariables, 0, "stratum,leap"));
        Assert.Equal("stratum=11, leap=0", some);

        string peer = string.Concat(Ask(engine, transport, ControlOpcode.ReadVariables, 1).Select(r => r.Data));
        Assert.Contains("srcadr=127.127.1.0", peer, StringComparison.Ordinal);
        Assert.Contains("reach=0xff", peer, StringComparison.Ordinal);
        Assert.Contains("hmode=3", peer, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ControlOpcode.ReadVariables, 77, "", ControlError.UnknownAssociation)]
    [InlineData(ControlOpcode.ReadVariables, 0, "nosuchvar", ControlError.UnknownVariable)]
    [InlineData(ControlOpcode.WriteVariables, 0, "leap=1", ControlError.PermissionDenied)]
    [InlineData(ControlOpcode.Configure, 0, "server 127.127.1.1", ControlError.PermissionDenied)]
    [InlineData((ControlOpcode)20, 0, "", ControlError.BadOpcode)]
    public void Bad_requests_get_error_responses(ControlOpcode opcode, ushort association, string data, ControlError error)
    {
        (NtpEngine engine, RecordingTransport transport) = LocalClockEngine();
        (ControlHeader header, string body) = Assert.Single(Ask(engine, transport, opcode, association, data));
        Assert.True(header.IsError);
        Assert.Equal(error, (ControlError)(header.Status >> 8));
        Assert.Empty(body);
    }

    [Fact]
    public void Read_mru_needs_a_nonce_and_lists_the_clients_heard()
    {
        (NtpEngine engine, RecordingTransport transport) = LocalClockEngine();
        Assert.True(Assert.Single(Ask(engine, transport, ControlOpcode.ReadMru, 0, "nonce=0123, frags=4")).Header.IsError);

        (ControlHeader _, string nonce) = Assert.Single(Ask(engine, transport, ControlOpcode.RequestNonce));
        Assert.Matches("^nonce=[0-9a-f]{24}$", nonce);
        string list = string.Concat(Ask(engine, transport, ControlOpcode.ReadMru, 0, nonce + ", frags=4").Select(r => r.Data));

        Assert.StartsWith(nonce + ", addr.0=127.0.0.1:40123, last.0=0x", list, StringComparison.Ordinal);
        Assert.Contains("ct.0=3", list, StringComparison.Ordinal);
        Assert.Matches(@", now=0x[0-9a-f]{8}\.[0-9a-f]{8}, last\.newest=0x[0-9a-f]{8}\.[0-9a-f]{8}$", list);
    }

    [Theory]
    [InlineData(MacAlgorithm.Md5)]
    [InlineData(MacAlgorithm.Sha1)]
    [InlineData(MacAlgorithm.Aes128Cmac)]
    public void Config_needs_a_request_authenticated_with_the_control_key(MacAlgorithm algorithm)
    {
        byte[] secret = "0123456789abcdef"u8.ToArray();
        var received = new List<string>();
        var transport = new RecordingTransport();
        var engine = new NtpEngine(
            new EngineSettings { ControlKey = new SymmetricKey(7, algorithm, secret) },
            new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(1));

        byte[] Request(uint keyId, byte[] key) => Signed(ControlOpcode.Configure, 0, "server 127.127.1.1", algorithm, keyId, key);

        (ControlHeader Header, byte[] Packet) Send(byte[] packet)
        {
            transport.Sent.Clear();
            engine.Receive(packet, Querier, Start, 1);
            // An authenticated :config goes to the host, which applies it and has the engine answer.
            while (engine.ConfigurationRequests.TryDequeue(out ConfigurationRequest? request))
            {
                received.Add(request.Text);
                engine.AnswerConfiguration(request, "Config Succeeded", 1);
            }

            byte[] reply = Assert.Single(transport.Sent).Packet;
            Assert.True(ControlHeader.TryRead(reply, out ControlHeader h, out _, out _));
            return (h, reply);
        }

        Assert.Equal(ControlError.PermissionDenied, (ControlError)(Send(Request(7, "0123456789abcdeF"u8.ToArray())).Header.Status >> 8));
        Assert.Equal(ControlError.PermissionDenied, (ControlError)(Send(Request(8, secret)).Header.Status >> 8));
        Assert.Empty(received);

        (ControlHeader ok, byte[] signed) = Send(Request(7, secret));
        Assert.False(ok.IsError);
        Assert.Equal(["server 127.127.1.1"], received);
        // The answer is signed with the same key.
        int end = signed.Length - 4 - Mac.DigestLength(algorithm);
        Assert.True(Mac.Verify(algorithm, secret, signed.AsSpan(0, end), signed.AsSpan(end + 4)));
    }

    [Fact]
    public void Random_mode_6_and_mode_7_packets_never_crash_and_mode_7_is_never_answered()
    {
        (NtpEngine engine, RecordingTransport transport) = LocalClockEngine();
        var random = new Random(9327);
        int answered6 = 0;
        for (int i = 0; i < 50_000; i++)
        {
            var packet = new byte[random.Next(1, 600)];
            random.NextBytes(packet);
            bool seven = random.Next(2) == 0;
            packet[0] = (byte)((packet[0] & 0xF8) | (seven ? 7 : 6));
            transport.Sent.Clear();
            engine.Receive(packet, Querier, Start, 20 + i * 0.001);
            if (seven)
            {
                Assert.Empty(transport.Sent);
            }
            else
            {
                answered6 += transport.Sent.Count;
                Assert.All(transport.Sent, s => Assert.True(ControlHeader.TryRead(s.Packet, out ControlHeader h, out _, out _) && h.IsResponse));
            }
        }

        Assert.True(answered6 > 0);
        Assert.Equal(11, engine.State.Stratum);
    }

    /// <summary>A request as ntpq sends it with a key: padded to 8 octets, then key ID and MAC.</summary>
    private static byte[] Signed(ControlOpcode opcode, ushort association, string text, MacAlgorithm algorithm, uint keyId, byte[] key)
    {
        byte[] data = Encoding.ASCII.GetBytes(text);
        var packet = new byte[(12 + data.Length + 7) & ~7];
        new ControlHeader { Version = 2, Opcode = opcode, Sequence = 5, AssociationId = association }.Write(packet, data);
        return Mac.Append(algorithm, keyId, key, packet);
    }

    [Fact]
    public void Readclock_gives_a_reference_clocks_variables_and_refuses_other_associations()
    {
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings(), new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(1));
        engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 123)));
        engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("127.127.1.0"), 123))
        {
            Mode = AssociationMode.Refclock, RefclockType = 1, RefclockStratum = 10, RefclockId = ReferenceId.FromAscii("LOCL"), RefclockTime1 = 0.002,
        });
        for (int t = 0; t < 5; t++)
        {
            engine.Tick(t);
        }

        foreach (ushort id in new ushort[] { 0, 2 })
        {
            (ControlHeader header, string text) = Assert.Single(Ask(engine, transport, ControlOpcode.ReadClock, id));
            Assert.False(header.IsError);
            Assert.Equal(0, header.Status);
            Assert.Equal("device=\"Undisciplined local clock\", timecode=\"\", poll=4, noreply=0, badformat=0, baddata=0, fudgetime1=2.000, stratum=10, refid=LOCL, flags=0", text.Replace("\r\n", " ", StringComparison.Ordinal));
        }

        Assert.Equal("stratum=10, poll=4", Assert.Single(Ask(engine, transport, ControlOpcode.ReadClock, 2, "stratum,poll")).Data);
        (ControlHeader notClock, _) = Assert.Single(Ask(engine, transport, ControlOpcode.ReadClock, 1));
        Assert.Equal(ControlError.UnknownAssociation, (ControlError)(notClock.Status >> 8));
    }

    [Fact]
    public void Counters_are_answered_when_named()
    {
        var kernel = new KernelLoop(0.000123, -12.5, 0.016, 0.000002, 0x2001, 7, 1e-9, 500, 0, 0, 0, 2, 0, 0, 0, 0);
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings { StoredKeys = 3, QueueCapacity = 64 }, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(1)) { Kernel = kernel };
        engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 123)));
        for (int t = 0; t < 3; t++)
        {
            engine.Tick(t);
        }

        engine.Io.CountReceived();
        Assert.True(engine.Io.TryQueue());

        string system = string.Concat(Ask(engine, transport, ControlOpcode.ReadVariables).Select(r => r.Data));
        Assert.DoesNotContain("ss_uptime", system, StringComparison.Ordinal);

        string Named(ushort id, string names) => Assert.Single(Ask(engine, transport, ControlOpcode.ReadVariables, id, names)).Data.Replace("\r\n", " ", StringComparison.Ordinal);

        Assert.Equal("koffset=0.123, kfreq=-12.500, kstflags=pll nano, ktimeconst=7, kprecis=0.000001", Named(0, "koffset,kfreq,kstflags,ktimeconst,kprecis"));
        Assert.Equal("total_rbuf=64, used_rbuf=1, free_rbuf=63, io_received=1", Named(0, "total_rbuf,used_rbuf,free_rbuf,io_received"));
        Assert.Equal("authkeys=3, authklookups=0", Named(0, "authkeys,authklookups"));
        Assert.Equal("mru_enabled=0x1, mru_maxdepth=8192", Named(0, "mru_enabled,mru_maxdepth"));
        Assert.Matches(@"^ss_uptime=\d+, ss_uptime_r=\d+, ss_numctlreq=6$", Named(0, "ss_uptime,ss_uptime_r,ss_numctlreq"));
        Assert.Equal("sent=1, received=0, bogusorg=0, candidate=0", Named(1, "sent,received,bogusorg,candidate"));
    }

    [Fact]
    public void Writevar_changes_setvar_variables_only_with_the_control_key()
    {
        byte[] secret = "writer"u8.ToArray();
        var transport = new RecordingTransport();
        var engine = new NtpEngine(
            new EngineSettings { ControlKey = new SymmetricKey(3, MacAlgorithm.Sha1, secret), UserVariables = [new("rack", "row 4", Default: true), new("owner", "ops", Default: false)] },
            new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(1));

        string system = string.Concat(Ask(engine, transport, ControlOpcode.ReadVariables).Select(r => r.Data));
        Assert.Contains("rack=row 4", system, StringComparison.Ordinal);
        Assert.DoesNotContain("owner", system, StringComparison.Ordinal);
        Assert.Equal("owner=ops", Assert.Single(Ask(engine, transport, ControlOpcode.ReadVariables, 0, "owner")).Data);

        ControlError? Write(string text, byte[] key)
        {
            transport.Sent.Clear();
            engine.Receive(Signed(ControlOpcode.WriteVariables, 0, text, MacAlgorithm.Sha1, 3, key), Querier, Start, 1);
            Assert.True(ControlHeader.TryRead(Assert.Single(transport.Sent).Packet, out ControlHeader h, out _, out _));
            return h.IsError ? (ControlError)(h.Status >> 8) : null;
        }

        Assert.Equal(ControlError.PermissionDenied, Write("owner=eve", "wrong"u8.ToArray()));
        Assert.Equal(ControlError.PermissionDenied, Write("owner=eve, stratum=1", secret));
        Assert.Equal(ControlError.UnknownVariable, Write("nosuch=1", secret));
        Assert.Equal("owner=ops", Assert.Single(Ask(engine, transport, ControlOpcode.ReadVariables, 0, "owner")).Data);

        Assert.Null(Write("owner=noc, rack=row 5", secret));
        Assert.Equal("owner=noc, rack=row 5", Assert.Single(Ask(engine, transport, ControlOpcode.ReadVariables, 0, "owner,rack")).Data);
    }

    [Fact]
    public void A_flood_of_remote_readvars_draws_back_fewer_octets_than_it_sent_while_loopback_and_authenticated_queries_are_not_limited()
    {
        byte[] secret = "0123456789abcdef"u8.ToArray();
        var transport = new RecordingTransport();
        var open = new RestrictList([new AccessEntry(IPAddress.Any, IPAddress.Any, AccessFlags.None)]);
        var engine = new NtpEngine(
            new EngineSettings { Access = open, ControlKey = new SymmetricKey(7, MacAlgorithm.Md5, secret) },
            new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(1));
        var stranger = new IPEndPoint(IPAddress.Parse("198.18.7.7"), 40000);
        var readvar = new byte[12];
        new ControlHeader { Version = 2, Opcode = ControlOpcode.ReadVariables, Sequence = 1 }.Write(readvar, []);

        long Flood(IPEndPoint from, byte[] request, int count, double start)
        {
            transport.Sent.Clear();
            for (int i = 0; i < count; i++)
            {
                engine.Receive(request, from, Start + NtpDuration.FromSeconds(start + i / (double)count), start + i / (double)count);
            }

            return transport.Sent.Sum(s => (long)s.Packet.Length);
        }

        long answered = Flood(stranger, readvar, 1000, 100);
        double ratio = answered / (1000.0 * readvar.Length);
        Assert.InRange(ratio, 0.1, 0.99);
        Assert.True(engine.Responder.Counters.Dropped(DropReason.ControlLimited) >= 950, $"{engine.Responder.Counters.Dropped(DropReason.ControlLimited)} dropped, {answered} octets");

        // The budget refills: a polite ntpq a minute later is answered.
        long later = Flood(stranger, readvar, 1, 160);
        Assert.True(later > 300, $"{later} octets a minute later");

        // Loopback and queries signed with the control key are not limited.
        Assert.Equal(1000 * Flood(new IPEndPoint(IPAddress.Loopback, 40001), readvar, 1, 200), Flood(new IPEndPoint(IPAddress.Loopback, 40001), readvar, 1000, 201));
        byte[] signed = Signed(ControlOpcode.ReadVariables, 0, "stratum", MacAlgorithm.Md5, 7, secret);
        Assert.Equal(200, Flood(stranger, signed, 200, 300) / Flood(stranger, signed, 1, 301));
    }
}
