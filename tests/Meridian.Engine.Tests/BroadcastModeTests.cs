using System.Net;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Engine.Tests;

/// <summary>The engine's side of broadcast, multicast and manycast: what goes on the wire and what is taken from it.</summary>
public sealed class BroadcastModeTests
{
    private static readonly NtpTimestamp Start = NtpTimestamp.FromDateTime(new DateTime(2026, 12, 1, 10, 0, 0, DateTimeKind.Utc));
    private static readonly IPEndPoint Group = new(IPAddress.Parse("224.0.1.1"), 123);
    private static readonly byte[] Secret = "broadcast secret"u8.ToArray();

    /// <summary>seed 000's server: the local clock fudged to stratum 10, and a broadcast to 224.0.1.1 every 8 s.</summary>
    private static (NtpEngine Engine, RecordingTransport Transport, Association Broadcast) Seed000Server(uint? key = null, MacAlgorithm algorithm = MacAlgorithm.Md5, bool manycastServer = false)
    {
        var transport = new RecordingTransport();
        var settings = new EngineSettings { TrustedKeys = key is uint id ? [new SymmetricKey(id, algorithm, Secret)] : [], ManycastServer = manycastServer };
        var engine = new NtpEngine(settings, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(1));
        engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("127.127.1.1"), 123))
        {
            Mode = AssociationMode.Refclock,
            RefclockType = LocalClockDriver.Type,
            RefclockStratum = 10,
            RefclockId = LocalClockDriver.DefaultReferenceId,
        });
        Association broadcast = engine.Add(new AssociationSettings(Group) { Mode = AssociationMode.Broadcast, MinPoll = 3, MaxPoll = 4, Key = key, Ttl = 2 });
        return (engine, transport, broadcast);
    }

    [Fact]
    public void A_broadcast_server_sends_mode_5_every_2_to_the_minpoll_once_it_has_time_and_never_before()
    {
        var (engine, transport, broadcast) = Seed000Server();
        Assert.Equal("MCST", broadcast.ReferenceId.ToAscii());

        for (int second = 0; second <= 80; second++)
        {
            engine.Tick(second);
        }

        Assert.Empty(transport.Sent);
        Assert.InRange(transport.ToGroups.Count, 8, 10);
        Assert.All(transport.ToGroups, g => Assert.Equal((Group, 2, false), (g.Group, g.Ttl, g.ClientRequest)));
        NtpHeader.TryRead(transport.ToGroups[^1].Packet, out NtpHeader last);
        Assert.Equal((NtpMode.Broadcast, (byte)11, (sbyte)3, LeapIndicator.NoWarning), (last.Mode, last.Stratum, last.Poll, last.Leap));
        Assert.Equal(48, transport.ToGroups[^1].Packet.Length);
        Assert.True(last.OriginTimestamp.IsZero && last.ReceiveTimestamp.IsZero, "a broadcast answers no request");
        Assert.Equal(Start, last.TransmitTimestamp);
        Assert.Equal("127.127.1.1", last.ReferenceId.ToDottedQuad());

        // Broadcasts begin only after the local clock made the host synchronized: none in the first seconds.
        var (quiet, quietTransport, _) = Seed000Server();
        quiet.Tick(0);
        quiet.Tick(1);
        Assert.Empty(quietTransport.ToGroups);

        PeerSnapshot row = Assert.Single(engine.Snapshot(80).Peers, p => p.Mode == AssociationMode.Broadcast);
        Assert.True((row.Status & 0x0800) != 0, "the status word says broadcast");
    }

    [Theory]
    [InlineData(MacAlgorithm.Md5, 68)]
    [InlineData(MacAlgorithm.Sha1, 72)]
    public void A_broadcast_with_a_key_is_signed_with_it(MacAlgorithm algorithm, int length)
    {
        var (engine, transport, _) = Seed000Server(key: 7, algorithm);
        for (int second = 0; second <= 20; second++)
        {
            engine.Tick(second);
        }

        byte[] sent = transport.ToGroups[^1].Packet;
        Assert.Equal(length, sent.Length);
        Assert.Equal(PacketStatus.Ok, NtpPacket.TryParse(sent, out NtpPacket packet));
        Assert.Equal(7u, packet.KeyId);
        Assert.True(Mac.Verify(algorithm, Secret, packet.Authenticated, packet.Digest));
    }

    /// <summary>A broadcast client under <c>enable auth</c> with the server's key trusted.</summary>
    private static NtpEngine SignedClient(MacAlgorithm algorithm) => new(
        new EngineSettings
        {
            Flags = SystemFlags.Default | SystemFlags.BroadcastClient,
            BroadcastVolley = false,
            TrustedKeys = [new SymmetricKey(7, algorithm, Secret)],
        },
        new FixedClock(Start), NoClockControl.Instance, new RecordingTransport(), new SeededRandomSource(2));

    private static byte[] Broadcast(double at, uint? key = null, MacAlgorithm algorithm = MacAlgorithm.Md5, byte[]? secret = null)
    {
        var packet = new byte[48];
        new NtpHeader
        {
            Version = 4, Mode = NtpMode.Broadcast, Stratum = 2, Poll = 6, ReferenceId = ReferenceId.FromAscii("GPS"),
            ReferenceTimestamp = Start, TransmitTimestamp = Start + NtpDuration.FromSeconds(at - 0.004),
        }.Write(packet);
        return key is uint id ? Mac.Append(algorithm, id, secret ?? Secret, packet) : packet;
    }

    [Theory]
    [InlineData(MacAlgorithm.Md5)]
    [InlineData(MacAlgorithm.Sha1)]
    public void Under_enable_auth_only_broadcasts_signed_with_a_trusted_key_are_heard(MacAlgorithm algorithm)
    {
        NtpEngine engine = SignedClient(algorithm);
        var server = new IPEndPoint(IPAddress.Parse("198.18.0.9"), 123);
        engine.Receive(Broadcast(0), server, Start, 0, IPAddress.Parse("198.18.0.2"), Group.Address);
        engine.Receive(Broadcast(1, key: 7, algorithm, "wrong secret"u8.ToArray()), server, Start + NtpDuration.FromSeconds(1), 1, IPAddress.Parse("198.18.0.2"), Group.Address);
        Assert.Empty(engine.Associations);
        Assert.Equal(2, engine.Responder.Counters.Dropped(DropReason.BadAuth));
        // One log line an hour for a server, however many packets: the first says why and what to configure.
        Assert.True(engine.Events.TryDequeue(out EngineEvent? said));
        Assert.Contains("not authenticated, and 'enable auth' requires it; give the server 'broadcast ... key N'", said!.Message, StringComparison.Ordinal);
        Assert.False(engine.Events.TryDequeue(out _));

        engine.Receive(Broadcast(2, key: 7, algorithm), server, Start + NtpDuration.FromSeconds(2), 2, IPAddress.Parse("198.18.0.2"), Group.Address);
        Association heard = Assert.Single(engine.Associations);
        Assert.Equal((AssociationMode.BroadcastClient, 7u, true), (heard.Mode, heard.Settings.Key, heard.Authentic));
        Assert.Equal(1, heard.Filter.Count);

        // Once the association has a key, an unsigned packet from its server is dropped even if auth were off.
        engine.Receive(Broadcast(3), server, Start + NtpDuration.FromSeconds(3), 3, IPAddress.Parse("198.18.0.2"), Group.Address);
        Assert.Equal(1, heard.Filter.Count);
        Assert.Equal(1, heard.BadAuth);
    }

    [Fact]
    public void Without_broadcastclient_and_from_our_own_address_a_broadcast_is_not_heard()
    {
        var transport = new RecordingTransport();
        var plain = new NtpEngine(new EngineSettings { Flags = SystemFlags.Default & ~SystemFlags.Auth }, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(3));
        plain.Receive(Broadcast(0), new IPEndPoint(IPAddress.Parse("198.18.0.9"), 123), Start, 0, IPAddress.Parse("198.18.0.2"), Group.Address);
        Assert.Empty(plain.Associations);

        var client = new NtpEngine(new EngineSettings { Flags = (SystemFlags.Default | SystemFlags.BroadcastClient) & ~SystemFlags.Auth }, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(3));
        client.Receive(Broadcast(0), new IPEndPoint(IPAddress.Parse("198.18.0.2"), 123), Start, 0, IPAddress.Parse("198.18.0.2"), Group.Address);
        Assert.Empty(client.Associations);
        Assert.Equal(2, plain.Responder.Counters.Dropped(DropReason.Declined) + client.Responder.Counters.Dropped(DropReason.Declined));
    }

    [Fact]
    public void The_volley_is_answered_only_by_the_server_that_broadcast()
    {
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings { Flags = (SystemFlags.Default | SystemFlags.BroadcastClient) & ~SystemFlags.Auth }, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(4));
        var server = new IPEndPoint(IPAddress.Parse("198.18.0.9"), 123);
        engine.Receive(Broadcast(0), server, Start, 0, IPAddress.Parse("198.18.0.2"), Group.Address);
        Association heard = Assert.Single(engine.Associations);
        Assert.True(heard.InVolley);

        engine.Tick(1);
        (IPEndPoint to, _, byte[] request, bool clientRequest) = Assert.Single(transport.Sent);
        Assert.Equal((server, true), (to, clientRequest));
        NtpHeader.TryRead(request, out NtpHeader asked);

        byte[] Reply(double serverAt)
        {
            var reply = new byte[48];
            new NtpHeader
            {
                Version = 4, Mode = NtpMode.Server, Stratum = 2, ReferenceId = ReferenceId.FromAscii("GPS"), OriginTimestamp = asked.TransmitTimestamp,
                ReceiveTimestamp = Start + NtpDuration.FromSeconds(serverAt), TransmitTimestamp = Start + NtpDuration.FromSeconds(serverAt),
            }.Write(reply);
            return reply;
        }

        // Another host answering the volley's request is no answer at all.
        engine.Receive(Reply(0.001), new IPEndPoint(IPAddress.Parse("198.18.0.66"), 123), Start + NtpDuration.FromSeconds(0.002), 1.002);
        Assert.Equal(0, heard.Filter.Count);
        Assert.True(heard.InVolley);
        Assert.Single(engine.Associations);
    }

    [Fact]
    public void A_manycast_client_asks_its_group_and_every_server_that_answers_becomes_an_ordinary_client_association()
    {
        var transport = new RecordingTransport();
        var settings = new EngineSettings { Selection = new SelectionSettings { MaxClock = 3 }, TrustedKeys = [new SymmetricKey(5, MacAlgorithm.Sha1, Secret)] };
        var engine = new NtpEngine(settings, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(5));
        Association prototype = engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("239.1.1.1"), 123)) { Mode = AssociationMode.ManycastClient, MinPoll = 4, Ttl = 8, Key = 5 });
        Assert.Equal("ACST", prototype.ReferenceId.ToAscii());

        engine.Tick(1);
        (IPEndPoint group, byte[] request, int ttl, bool clientRequest) = Assert.Single(transport.ToGroups);
        Assert.Equal((prototype.Address, 1, true), (group, ttl, clientRequest));
        NtpHeader.TryRead(request, out NtpHeader asked);
        Assert.Equal(NtpMode.Client, asked.Mode);

        byte[] Reply(NtpTimestamp origin, bool signed = true)
        {
            var reply = new byte[48];
            new NtpHeader
            {
                Version = 4, Mode = NtpMode.Server, Stratum = 2, ReferenceId = ReferenceId.FromAscii("GPS"), OriginTimestamp = origin,
                ReceiveTimestamp = Start + NtpDuration.FromSeconds(0.001), TransmitTimestamp = Start + NtpDuration.FromSeconds(0.001),
            }.Write(reply);
            return signed ? Mac.Append(MacAlgorithm.Sha1, 5, Secret, reply) : reply;
        }

        // An unsigned answer proves nothing (anyone on the group could send it); a forged one answers no request of ours.
        engine.Receive(Reply(asked.TransmitTimestamp, signed: false), new IPEndPoint(IPAddress.Parse("198.18.0.98"), 123), Start + NtpDuration.FromSeconds(0.002), 1.002);
        engine.Receive(Reply(Start), new IPEndPoint(IPAddress.Parse("198.18.0.99"), 123), Start + NtpDuration.FromSeconds(0.002), 1.002);
        Assert.Single(engine.Associations);
        Assert.Equal(1, engine.Responder.Counters.Dropped(DropReason.BadAuth));

        // Four servers answer, signed: the first three are taken (tos maxclock 3).
        for (int i = 1; i <= 4; i++)
        {
            engine.Receive(Reply(asked.TransmitTimestamp), new IPEndPoint(IPAddress.Parse($"198.18.0.{10 + i}"), 123), Start + NtpDuration.FromSeconds(0.002), 1.002);
        }

        Association[] found = engine.Associations.Where(a => a.Mode == AssociationMode.Client).ToArray();
        Assert.Equal(["198.18.0.11", "198.18.0.12", "198.18.0.13"], found.Select(a => a.Address.Address.ToString()));
        Assert.All(found, a => Assert.True(a.Settings.Iburst && a.Settings.Pool is not null && a.Settings.Key == 5));

        // Too few servers for minclock (3 of the default 3 found: enough): the ring starts again at 1; with fewer, it grows.
        var lonely = new RecordingTransport();
        var alone = new NtpEngine(new EngineSettings(), new FixedClock(Start), NoClockControl.Instance, lonely, new SeededRandomSource(6));
        alone.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("239.1.1.1"), 123)) { Mode = AssociationMode.ManycastClient, MinPoll = 4, Ttl = 8 });
        for (int second = 0; second <= 16 * 5; second++)
        {
            alone.Tick(second);
        }

        Assert.Equal([1, 2, 4, 8, 8], lonely.ToGroups.Select(g => g.Ttl).Take(5));

        // With three servers found (tos minclock), the next requests go every 2^maxpoll s, not every 2^minpoll.
        int before = transport.ToGroups.Count;
        for (int second = 2; second <= 2 + 16 * 4; second++)
        {
            engine.Tick(second);
        }

        Assert.InRange(transport.ToGroups.Count - before, 0, 1);
    }

    [Fact]
    public void Under_enable_auth_a_manycast_server_found_without_a_key_on_the_line_keeps_the_key_it_proved_itself_with()
    {
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings { TrustedKeys = [new SymmetricKey(5, MacAlgorithm.Sha1, Secret)] }, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(11));
        engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("239.1.1.1"), 123)) { Mode = AssociationMode.ManycastClient, MinPoll = 4 });
        engine.Tick(1);
        NtpHeader.TryRead(transport.ToGroups[0].Packet, out NtpHeader asked);
        var reply = new byte[48];
        new NtpHeader
        {
            Version = 4, Mode = NtpMode.Server, Stratum = 2, ReferenceId = ReferenceId.FromAscii("GPS"), OriginTimestamp = asked.TransmitTimestamp,
            ReceiveTimestamp = Start, TransmitTimestamp = Start,
        }.Write(reply);

        engine.Receive(reply, new IPEndPoint(IPAddress.Parse("198.18.0.20"), 123), Start, 1.1);
        Assert.Single(engine.Associations);
        Assert.Contains(engine.Events, e => e.Message.Contains("reply from 198.18.0.20 ignored: not authenticated", StringComparison.Ordinal));

        engine.Receive(Mac.Append(MacAlgorithm.Sha1, 5, Secret, reply), new IPEndPoint(IPAddress.Parse("198.18.0.21"), 123), Start, 1.2);
        Association found = Assert.Single(engine.Associations, a => a.Mode == AssociationMode.Client);
        Assert.Equal(5u, found.Settings.Key);
    }

    [Fact]
    public void A_manycast_server_answers_requests_to_its_group_only_while_it_has_time_to_give()
    {
        var (server, transport, _) = Seed000Server();
        var (manycast, manycastTransport, _) = Seed000Server(manycastServer: true);
        var request = new byte[48];
        new NtpHeader { Version = 4, Mode = NtpMode.Client, TransmitTimestamp = Start }.Write(request);
        var client = new IPEndPoint(IPAddress.Parse("198.18.0.50"), 123);

        // Not synchronized yet: silence, so that a manycast client never mobilizes a server with no time.
        manycast.Receive(request, client, Start, 0, IPAddress.Parse("198.18.0.1"), Group.Address);
        Assert.Empty(manycastTransport.Sent);

        for (int second = 0; second <= 10; second++)
        {
            server.Tick(second);
            manycast.Tick(second);
        }

        manycast.Receive(request, client, Start, 11, IPAddress.Parse("198.18.0.1"), Group.Address);
        (IPEndPoint to, IPAddress? from, byte[] answer, _) = Assert.Single(manycastTransport.Sent);
        Assert.Equal((client, IPAddress.Parse("198.18.0.1")), (to, from));
        NtpHeader.TryRead(answer, out NtpHeader answered);
        Assert.Equal((NtpMode.Server, (byte)11), (answered.Mode, answered.Stratum));

        // A client better than we are (stratum 3 against our 11) is not drawn down.
        var better = (byte[])request.Clone();
        better[1] = 3;
        manycast.Receive(better, client, Start, 11.5, IPAddress.Parse("198.18.0.1"), Group.Address);
        Assert.Single(manycastTransport.Sent);

        // Synchronized, but not a manycast server: a request to a group is not ours to answer.
        server.Receive(request, client, Start, 11, IPAddress.Parse("198.18.0.1"), Group.Address);
        Assert.Empty(transport.Sent);

        // To our own address it is an ordinary request.
        server.Receive(request, client, Start, 12, IPAddress.Parse("198.18.0.1"));
        Assert.Single(transport.Sent);
    }

    [Fact]
    public void Only_a_broadcast_comes_to_a_group_and_a_broadcast_comes_only_to_a_group()
    {
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings { Flags = (SystemFlags.Default | SystemFlags.BroadcastClient) & ~SystemFlags.Auth }, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(8));
        var stranger = new IPEndPoint(IPAddress.Parse("203.0.113.9"), 40000);

        // Mode 5 to our own address: no broadcast, so no association and no volley aimed at the sender's port.
        engine.Receive(Broadcast(0), stranger, Start, 0, IPAddress.Parse("198.18.0.2"));
        // Mode 6 and mode 1 to a group: every member would answer.
        var query = new byte[12];
        query[0] = (2 << 3) | 6;
        query[1] = 2;
        engine.Receive(query, stranger, Start, 1, IPAddress.Parse("198.18.0.2"), Group.Address);
        var active = new byte[48];
        new NtpHeader { Version = 4, Mode = NtpMode.SymmetricActive, Stratum = 2, Poll = 6, TransmitTimestamp = Start }.Write(active);
        engine.Receive(active, stranger, Start, 2, IPAddress.Parse("198.18.0.2"), Group.Address);
        engine.Tick(3);

        Assert.Empty(engine.Associations);
        Assert.Empty(transport.Sent);
        Assert.Equal(3, engine.Responder.Counters.Dropped(DropReason.Declined));
    }

    [Fact]
    public void A_broadcast_client_association_cannot_be_parked_out_of_reach_and_its_volley_goes_to_port_123()
    {
        var transport = new RecordingTransport();
        var engine = new NtpEngine(new EngineSettings { Flags = (SystemFlags.Default | SystemFlags.BroadcastClient) & ~SystemFlags.Auth, BroadcastVolley = false }, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(9));
        byte[] packet = Broadcast(0);
        packet[2] = 127; // poll 2^127 s
        engine.Receive(packet, new IPEndPoint(IPAddress.Parse("198.18.0.9"), 40123), Start, 0, IPAddress.Parse("198.18.0.2"), Group.Address);
        Association heard = Assert.Single(engine.Associations);
        Assert.Equal(123, heard.Address.Port);

        // Silent from now on: gone after 10 intervals of at most 2^maxpoll (1024 s), not never.
        for (int second = 1; second <= 11 * 1024 + 10; second += 8)
        {
            engine.Tick(second);
        }

        Assert.Empty(engine.Associations);
    }

    [Fact]
    public void A_keyed_broadcast_client_takes_only_its_key_and_spoofed_sources_cannot_fill_the_log()
    {
        var engine = new NtpEngine(
            new EngineSettings
            {
                Flags = SystemFlags.Default | SystemFlags.BroadcastClient,
                BroadcastVolley = false,
                TrustedKeys = [new SymmetricKey(7, MacAlgorithm.Sha1, Secret), new SymmetricKey(8, MacAlgorithm.Sha1, Secret)],
            },
            new FixedClock(Start), NoClockControl.Instance, new RecordingTransport(), new SeededRandomSource(10));
        var server = new IPEndPoint(IPAddress.Parse("198.18.0.9"), 123);
        engine.Receive(Broadcast(0, key: 7, MacAlgorithm.Sha1), server, Start, 0, IPAddress.Parse("198.18.0.2"), Group.Address);
        Association heard = Assert.Single(engine.Associations);

        // Another trusted key, even a valid MAC with it, is not the key this server proved itself with.
        engine.Receive(Broadcast(1, key: 8, MacAlgorithm.Sha1), server, Start + NtpDuration.FromSeconds(1), 1, IPAddress.Parse("198.18.0.2"), Group.Address);
        Assert.Equal(1, heard.Filter.Count);
        Assert.Equal(1, heard.BadAuth);

        // 1000 unsigned broadcasts from 1000 spoofed addresses: all counted, at most 64 log lines.
        engine.Events.Clear();
        for (int i = 0; i < 1000; i++)
        {
            var spoofed = new IPEndPoint(new IPAddress([10, 1, (byte)(i >> 8), (byte)i]), 123);
            engine.Receive(Broadcast(2), spoofed, Start + NtpDuration.FromSeconds(2), 2, IPAddress.Parse("198.18.0.2"), Group.Address);
        }

        Assert.Equal(1001, engine.Responder.Counters.Dropped(DropReason.BadAuth));
        Assert.InRange(engine.Events.Count, 1, NtpEngine.MaxPassiveAssociations);
    }
}
