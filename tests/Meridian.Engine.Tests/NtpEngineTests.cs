using System.Net;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Engine.Tests;

internal sealed class RecordingTransport : INtpTransport
{
    public List<(IPEndPoint To, IPAddress? From, byte[] Packet, bool ClientRequest)> Sent { get; } = new();

    /// <summary>What Send says of when a client request left (zero: the engine keeps its own reading).</summary>
    public NtpTimestamp Left { get; set; }

    public NtpTimestamp Send(IPEndPoint destination, IPAddress? source, ReadOnlySpan<byte> packet, bool clientRequest)
    {
        Sent.Add((destination, source, packet.ToArray(), clientRequest));
        return Left;
    }

    /// <summary>Packets to a group, with their hop limit.</summary>
    public List<(IPEndPoint Group, byte[] Packet, int Ttl, bool ClientRequest)> ToGroups { get; } = new();

    public NtpTimestamp SendToGroup(IPEndPoint group, ReadOnlySpan<byte> packet, int ttl, bool clientRequest)
    {
        ToGroups.Add((group, packet.ToArray(), ttl, clientRequest));
        return Left;
    }
}

public sealed class NtpEngineTests
{
    private static readonly NtpTimestamp Start = NtpTimestamp.FromDateTime(new DateTime(2026, 11, 22, 10, 0, 0, DateTimeKind.Utc));

    private static (NtpEngine Engine, RecordingTransport Transport, FixedClock Clock) Create()
    {
        var clock = new FixedClock(Start);
        var transport = new RecordingTransport();
        return (new NtpEngine(new EngineSettings(), clock, NoClockControl.Instance, transport, new SeededRandomSource(1)), transport, clock);
    }

    [Fact]
    public void Client_requests_carry_a_random_transmit_timestamp_and_go_out_as_client_requests()
    {
        var (engine, transport, _) = Create();
        var server = new IPEndPoint(IPAddress.Parse("198.18.0.1"), 123);
        engine.Add(new AssociationSettings(server) { Iburst = true });

        engine.Tick(0);
        engine.Tick(1);
        engine.Tick(3);

        Assert.Equal(2, transport.Sent.Count);
        Assert.All(transport.Sent, s => Assert.True(s.ClientRequest));
        NtpHeader.TryRead(transport.Sent[0].Packet, out NtpHeader first);
        NtpHeader.TryRead(transport.Sent[1].Packet, out NtpHeader second);
        Assert.Equal(NtpMode.Client, first.Mode);
        Assert.NotEqual(Start, first.TransmitTimestamp);
        Assert.NotEqual(first.TransmitTimestamp, second.TransmitTimestamp);
        Assert.True(first.OriginTimestamp.IsZero && first.ReceiveTimestamp.IsZero, "a client request reveals none of our times");
    }

    [Fact]
    public void A_reply_is_taken_once_and_a_replay_is_bogus()
    {
        var (engine, transport, _) = Create();
        var server = new IPEndPoint(IPAddress.Parse("198.18.0.1"), 123);
        Association association = engine.Add(new AssociationSettings(server));
        engine.Tick(1);
        NtpHeader.TryRead(transport.Sent[0].Packet, out NtpHeader request);
        var reply = new byte[48];
        new NtpHeader
        {
            Version = 4, Mode = NtpMode.Server, Stratum = 1, ReferenceId = ReferenceId.FromAscii("GPS"),
            OriginTimestamp = request.TransmitTimestamp,
            ReceiveTimestamp = Start + NtpDuration.FromSeconds(0.011),
            TransmitTimestamp = Start + NtpDuration.FromSeconds(0.0111),
        }.Write(reply);

        engine.Receive(reply, server, Start + NtpDuration.FromSeconds(0.0002), 1.2);
        engine.Receive(reply, server, Start + NtpDuration.FromSeconds(0.0003), 1.3);

        Assert.Equal(1, association.Filter.Count);
        Assert.Equal(1, association.Reach);
        Assert.Equal(0.011, association.Filter.Offset, 3);
    }

    [Theory]
    [InlineData(null, 6)]
    [InlineData(10, 11)]
    public void The_local_clock_driver_is_selected_and_served_one_stratum_below(int? fudgedStratum, int served)
    {
        var (engine, transport, _) = Create();
        engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("127.127.1.0"), 123))
        {
            Mode = AssociationMode.Refclock,
            RefclockType = LocalClockDriver.Type,
            RefclockStratum = fudgedStratum ?? LocalClockDriver.DefaultStratum,
            RefclockId = LocalClockDriver.DefaultReferenceId,
        });

        for (int second = 0; second <= 10; second++)
        {
            engine.Tick(second);
        }

        Assert.Empty(transport.Sent); // a reference clock is read, not polled over the network
        Assert.True(engine.State.IsSynchronized);
        Assert.Equal(served, engine.State.Stratum);
        // Above stratum 1 the refid names the source by its address, the local clock's too (RFC 5905 §7.3; seed 000's
        // clients show it as LOCAL(1)).
        Assert.Equal("127.127.1.0", engine.State.ReferenceId.ToDottedQuad());
        Assert.Equal(TallyCode.SystemPeer, engine.Associations[0].Tally);
    }

    [Fact]
    public void Random_datagrams_never_throw_and_never_grow_the_engine_without_bound()
    {
        var (engine, _, _) = Create();
        var server = new IPEndPoint(IPAddress.Parse("198.18.0.1"), 123);
        engine.Add(new AssociationSettings(server));
        var random = new Random(5905);
        for (int i = 0; i < 50_000; i++)
        {
            var datagram = new byte[random.Next(0, 120)];
            random.NextBytes(datagram);
            if (datagram.Length > 0 && random.Next(2) == 0)
            {
                datagram[0] = (byte)((datagram[0] & 0xC0) | (4 << 3) | random.Next(1, 6)); // a plausible NTPv4 mode 1–5
            }

            var from = random.Next(4) == 0 ? server : new IPEndPoint(new IPAddress(random.Next()), random.Next(1, 65536));
            engine.Receive(datagram, from, Start, i * 0.01);
            if (i % 100 == 0)
            {
                engine.Tick(i * 0.01);
            }
        }

        Assert.InRange(engine.Associations.Count, 1, 1 + NtpEngine.MaxPassiveAssociations);
    }

    [Fact]
    public void An_association_with_a_key_signs_its_requests_and_takes_only_signed_replies()
    {
        byte[] secret = "sesame"u8.ToArray();
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings { TrustedKeys = [new SymmetricKey(5, MacAlgorithm.Sha1, secret)] }, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(3));
        var server = new IPEndPoint(IPAddress.Parse("198.18.0.1"), 123);
        Association association = engine.Add(new AssociationSettings(server) { Key = 5 });
        engine.Tick(1);

        byte[] sent = transport.Sent[0].Packet;
        Assert.Equal(72, sent.Length);
        Assert.Equal(PacketStatus.Ok, NtpPacket.TryParse(sent, out NtpPacket request));
        Assert.Equal(5u, request.KeyId);
        Assert.True(Mac.Verify(MacAlgorithm.Sha1, secret, request.Authenticated, request.Digest));

        var header = new NtpHeader
        {
            Version = 4, Mode = NtpMode.Server, Stratum = 1, ReferenceId = ReferenceId.FromAscii("GPS"),
            OriginTimestamp = request.Header.TransmitTimestamp,
            ReceiveTimestamp = Start + NtpDuration.FromSeconds(0.011),
            TransmitTimestamp = Start + NtpDuration.FromSeconds(0.0111),
        };
        var plain = new byte[48];
        header.Write(plain);

        engine.Receive(plain, server, Start + NtpDuration.FromSeconds(0.0002), 1.2);
        Assert.Equal(0, association.Filter.Count);
        Assert.Equal(1, association.BadAuth);
        Assert.Equal(PeerEvent.BadAuthentication, association.LastEvent);
        Assert.Equal(1, engine.Responder.Counters.Dropped(DropReason.BadAuth));

        engine.Receive(Mac.Append(MacAlgorithm.Sha1, 5, secret, plain), server, Start + NtpDuration.FromSeconds(0.0003), 1.3);
        Assert.Equal(1, association.Filter.Count);
        Assert.True(association.Authentic);
        Assert.Equal(0x1E, PeerSnapshot.Of(association, 1.3).Status >> 11); // configured, authenb, auth, reachable
    }

    [Fact]
    public void A_RATE_kiss_slows_the_association_and_DENY_stops_it()
    {
        var (engine, transport, _) = Create();
        var server = new IPEndPoint(IPAddress.Parse("198.18.0.1"), 123);
        Association association = engine.Add(new AssociationSettings(server) { MaxPoll = 12 });
        engine.Tick(1);

        byte[] Kiss(string code, sbyte poll)
        {
            NtpHeader.TryRead(transport.Sent[^1].Packet, out NtpHeader request);
            var kiss = new byte[48];
            new NtpHeader
            {
                Leap = LeapIndicator.Unsynchronized, Version = 4, Mode = NtpMode.Server, Stratum = 0, Poll = poll, ReferenceId = ReferenceId.FromAscii(code),
                OriginTimestamp = request.TransmitTimestamp, ReceiveTimestamp = request.TransmitTimestamp, TransmitTimestamp = request.TransmitTimestamp,
            }.Write(kiss);
            return kiss;
        }

        engine.Receive(Kiss("RATE", 10), server, Start + NtpDuration.FromSeconds(1.01), 1.01);
        Assert.Equal(10, association.HostPoll);
        Assert.InRange(association.NextPoll, 1.01 + 1024 * 0.96, 1.01 + 1024);
        Assert.Equal(0, association.Filter.Count);
        Assert.Contains(engine.Events, e => e.Message.Contains("kiss code RATE", StringComparison.Ordinal));
        // ntpq shows the kiss code in place of the refid.
        byte[] answer = engine.Control.Respond(ControlRequest(association.Id, "refid"), engine.Snapshot(2)).Fragments[0];
        Assert.Equal("refid=RATE", System.Text.Encoding.ASCII.GetString(answer, 12, answer.Length - 12).TrimEnd('\0'));

        double due = association.NextPoll + 0.5;
        engine.Tick(due);
        engine.Receive(Kiss("DENY", 6), server, Start + NtpDuration.FromSeconds(due + 0.01), due + 0.01);
        Assert.True(association.Stopped);
        Assert.False(association.IsDue(1e9));
        Assert.Contains(engine.Events, e => e.Message.Contains("kiss code DENY", StringComparison.Ordinal));
        // Seed 003: the second kiss from the same server is logged as rate limiting.
        Assert.Single(engine.Events, e => e.Message.Contains("it is rate limiting this client", StringComparison.Ordinal));
    }

    [Fact]
    public void Symmetric_peers_beyond_the_cap_are_refused_counted_and_logged_once()
    {
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings { Flags = SystemFlags.Default & ~SystemFlags.Auth }, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(1));
        var packet = new byte[48];
        for (int i = 0; i < NtpEngine.MaxPassiveAssociations + 6; i++)
        {
            new NtpHeader { Version = 4, Mode = NtpMode.SymmetricActive, Stratum = 2, Poll = 7, TransmitTimestamp = Start + NtpDuration.FromSeconds(i) }.Write(packet);
            engine.Receive(packet, new IPEndPoint(IPAddress.Parse($"198.18.2.{i + 1}"), 123), Start + NtpDuration.FromSeconds(i + 0.001), i);
        }

        Assert.Equal(NtpEngine.MaxPassiveAssociations, engine.Associations.Count(a => a.Mode == AssociationMode.SymmetricPassive));
        Assert.All(engine.Associations, a => Assert.Equal((7, NtpEngine.PassiveMaxPoll), (a.Settings.MinPoll, a.Settings.MaxPoll)));
        Assert.Equal(6, engine.Responder.Counters.Dropped(DropReason.PeerLimit));
        Assert.Single(engine.Events, e => e.Message.Contains("symmetric peer refused: 64 passive associations already", StringComparison.Ordinal));
    }

    [Fact]
    public void Under_enable_auth_an_unauthenticated_symmetric_peer_is_refused_and_a_run_time_disable_auth_lets_it_in()
    {
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings(), new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(1));
        var packet = new byte[48];
        new NtpHeader { Version = 4, Mode = NtpMode.SymmetricActive, Stratum = 2, Poll = 6, TransmitTimestamp = Start }.Write(packet);
        var peer = new IPEndPoint(IPAddress.Parse("198.18.2.1"), 123);

        engine.Receive(packet, peer, Start, 1);
        Assert.Empty(engine.Associations);
        Assert.Equal(1, engine.Responder.Counters.Dropped(DropReason.Restricted));

        engine.Flags &= ~SystemFlags.Auth;
        engine.Receive(packet, peer, Start, 2);
        Assert.Equal(AssociationMode.SymmetricPassive, Assert.Single(engine.Associations).Mode);
    }

    [Fact]
    public void A_passive_association_sends_at_its_active_peers_poll_from_the_start()
    {
        var (engine, transport, _) = Create();
        engine.Flags &= ~SystemFlags.Auth;
        var packet = new byte[48];
        new NtpHeader { Version = 4, Mode = NtpMode.SymmetricActive, Stratum = 2, Poll = 4, TransmitTimestamp = Start }.Write(packet);
        engine.Receive(packet, new IPEndPoint(IPAddress.Parse("198.18.2.1"), 123), Start, 0);

        // The first packet answers nothing of ours, so it is no sample; still, we follow its 16 s, not our 64 s.
        for (int second = 0; second <= 40; second++)
        {
            engine.Tick(second);
        }

        Assert.Equal(3, transport.Sent.Count); // at 1 s, then 16 s apart
        Assert.All(transport.Sent, s => Assert.Equal(NtpMode.SymmetricPassive, (NtpMode)(s.Packet[0] & 7)));
    }

    [Fact]
    public void Replies_and_symmetric_packets_leave_from_the_address_they_were_sent_to()
    {
        var (engine, transport, _) = Create();
        engine.Flags &= ~SystemFlags.Auth;
        var local = IPAddress.Parse("198.18.0.2");
        var client = new IPEndPoint(IPAddress.Parse("198.18.5.5"), 40000);
        var request = new byte[48];
        new NtpHeader { Version = 4, Mode = NtpMode.Client, TransmitTimestamp = Start }.Write(request);
        engine.Receive(request, client, Start, 1, local);
        byte[] control = ControlRequest(0, "stratum");
        engine.Receive(control, new IPEndPoint(IPAddress.Loopback, 40001), Start, 1, IPAddress.Parse("127.0.0.2"));
        new NtpHeader { Version = 4, Mode = NtpMode.SymmetricActive, Stratum = 2, Poll = 6, TransmitTimestamp = Start }.Write(request);
        engine.Receive(request, new IPEndPoint(IPAddress.Parse("198.18.6.6"), 123), Start, 1, local);
        engine.Tick(5);

        Assert.Equal(3, transport.Sent.Count);
        Assert.Equal([local, IPAddress.Parse("127.0.0.2"), local], transport.Sent.Select(s => s.From));
    }

    [Fact]
    public void A_client_requests_T1_is_when_the_transport_says_it_left_not_when_it_was_built()
    {
        var (engine, transport, _) = Create();
        var server = new IPEndPoint(IPAddress.Parse("198.18.0.1"), 123);
        Association association = engine.Add(new AssociationSettings(server));
        // Built at Start; the socket is made and the request leaves 10 ms later.
        transport.Left = Start + NtpDuration.FromSeconds(0.010);
        engine.Tick(1);
        NtpHeader.TryRead(transport.Sent[0].Packet, out NtpHeader request);
        var reply = new byte[48];
        new NtpHeader
        {
            Version = 4, Mode = NtpMode.Server, Stratum = 1, ReferenceId = ReferenceId.FromAscii("GPS"), Precision = -20,
            OriginTimestamp = request.TransmitTimestamp,
            ReceiveTimestamp = Start + NtpDuration.FromSeconds(0.015),
            TransmitTimestamp = Start + NtpDuration.FromSeconds(0.015),
            ReferenceTimestamp = Start,
        }.Write(reply);

        engine.Receive(reply, server, Start + NtpDuration.FromSeconds(0.020), 1.02);

        Assert.Equal(0, association.LastSample.Offset.ToSeconds(), 6);
        Assert.Equal(0.010, association.LastSample.Delay.ToSeconds(), 6);
    }

    /// <summary>Hands out known values and counts how many were taken.</summary>
    private sealed class RecordingRandom : IRandomSource
    {
        public List<ulong> Given { get; } = new();

        public ulong NextUInt64()
        {
            ulong value = 0x0123_4567_89ab_cdefUL * (ulong)(Given.Count + 1);
            Given.Add(value);
            return value;
        }
    }

    [Fact]
    public void Transmit_timestamps_and_mode_6_nonces_come_from_the_injected_random_source()
    {
        var random = new RecordingRandom();
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings(), new FixedClock(Start), NoClockControl.Instance, transport, random);
        engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("198.18.0.1"), 123)));
        engine.Tick(1);
        NtpHeader.TryRead(transport.Sent[0].Packet, out NtpHeader request);
        Assert.Equal(new NtpTimestamp(random.Given[0] | 1), request.TransmitTimestamp);

        var nonceRequest = new byte[12];
        new ControlHeader { Version = 2, Opcode = ControlOpcode.RequestNonce, Sequence = 1 }.Write(nonceRequest, []);
        transport.Sent.Clear();
        engine.Receive(nonceRequest, new IPEndPoint(IPAddress.Loopback, 40000), Start, 2);
        Assert.True(ControlHeader.TryRead(Assert.Single(transport.Sent).Packet, out _, out ReadOnlySpan<byte> data, out _));
        Assert.StartsWith("nonce=" + Convert.ToHexStringLower(BitConverter.GetBytes(random.Given[1])), System.Text.Encoding.ASCII.GetString(data), StringComparison.Ordinal);
    }

    private static byte[] ControlRequest(int association, string names)
    {
        byte[] data = System.Text.Encoding.ASCII.GetBytes(names);
        var request = new byte[(12 + data.Length + 3) & ~3];
        new ControlHeader { Version = 2, Opcode = ControlOpcode.ReadVariables, Sequence = 1, AssociationId = (ushort)association }.Write(request, data);
        return request;
    }
}

public sealed class ServingAllocationTests
{
    /// <summary>
    /// A flooder from one address is answered once, kissed, then dropped: every one of those paths runs on the
    /// serving threads for each packet, so none of them may allocate (garbage under a flood is the daemon's memory).
    /// </summary>
    [Fact]
    public void Serving_a_flood_from_one_address_allocates_nothing()
    {
        var clock = new FixedClock(NtpTimestamp.FromDateTime(new DateTime(2026, 12, 2, 10, 0, 0, DateTimeKind.Utc)));
        var engine = new NtpEngine(
            new EngineSettings { Access = new RestrictList([new AccessEntry(IPAddress.Any, IPAddress.Any, AccessFlags.Limited | AccessFlags.Kod)]) },
            clock, NoClockControl.Instance, new RecordingTransport(), new SeededRandomSource(1));
        byte[] request = new byte[48];
        request[0] = 0x23;
        Span<byte> reply = stackalloc byte[ServerResponder.MaxReplyLength];
        var source = new MruKey(0xC612_0002, 40000, false);

        int answered = 0;
        long allocated = 0;
        for (int i = 0; i < 2000; i++)
        {
            NtpTimestamp arrival = clock.Now() + NtpDuration.FromSeconds(i * 0.0001);
            long before = GC.GetAllocatedBytesForCurrentThread();
            int length = engine.Serve(request, source, arrival, reply);
            allocated += i < 10 ? 0 : GC.GetAllocatedBytesForCurrentThread() - before;
            answered += length > 0 ? 1 : 0;
        }

        Assert.InRange(answered, 1, 10);
        Assert.Equal(0, allocated);
    }
}
