using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Engine.Tests;

/// <summary>A clock that returns what the test sets.</summary>
internal sealed class FixedClock(NtpTimestamp now) : IClock
{
    public NtpTimestamp Current { get; set; } = now;

    public NtpTimestamp Now() => Current;
}

public sealed class ServerResponderTests
{
    private static readonly NtpTimestamp RefTime = NtpTimestamp.FromDateTime(new DateTime(2026, 11, 22, 10, 0, 0, DateTimeKind.Utc));
    private static readonly NtpTimestamp Received = RefTime + NtpDuration.FromSeconds(100);
    private static readonly NtpTimestamp Transmit = Received + NtpDuration.FromSeconds(0.000_020);

    private static (ServerResponder Responder, FixedClock Clock) LocalClockServer(int stratum = 10)
    {
        var clock = new FixedClock(Transmit);
        var state = new SystemState(LeapIndicator.NoWarning, (byte)(stratum + 1), -23, 0, NtpConstants.MinDispersion, LocalClockDriver.DefaultReferenceId, RefTime);
        return (new ServerResponder(clock, state), clock);
    }

    private static byte[] Request(byte version, NtpMode mode, sbyte poll = 6, int length = 48)
    {
        var request = new byte[Math.Max(length, NtpHeader.Size)];
        new NtpHeader { Version = version, Mode = mode, Poll = poll, TransmitTimestamp = new NtpTimestamp(0xDEADBEEF_01234567) }.Write(request);
        return request[..length];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Client_requests_get_server_replies_in_their_version(byte version)
    {
        (ServerResponder responder, _) = LocalClockServer();
        var reply = new byte[ServerResponder.MaxReplyLength];

        int length = responder.Respond(Request(version, NtpMode.Client), Received, reply);

        Assert.Equal(48, length);
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader h));
        Assert.Equal(version, h.Version);
        Assert.Equal(NtpMode.Server, h.Mode);
        Assert.Equal(LeapIndicator.NoWarning, h.Leap);
        Assert.Equal(11, h.Stratum);
        Assert.Equal(-23, h.Precision);
        Assert.Equal("LOCL", h.ReferenceId.ToAscii());
        Assert.Equal(RefTime, h.ReferenceTimestamp);
        Assert.Equal(new NtpTimestamp(0xDEADBEEF_01234567), h.OriginTimestamp);
        Assert.Equal(Received, h.ReceiveTimestamp);
        Assert.Equal(Transmit, h.TransmitTimestamp);
        Assert.Equal(NtpShort.Zero, h.RootDelay);
        // 10 ms of driver dispersion plus 15 ppm over the 100 s since the reference time.
        Assert.Equal(0.01 + 15e-6 * 100.00002, h.RootDispersion.ToSeconds(), 4);
        Assert.Equal(1, responder.Counters.Answered);
    }

    [Fact]
    public void An_ntpv1_request_with_mode_zero_is_a_client_request()
    {
        (ServerResponder responder, _) = LocalClockServer();
        Assert.Equal(48, responder.Respond(Request(1, NtpMode.Reserved), Received, new byte[ServerResponder.MaxReplyLength]));
    }

    [Theory]
    [InlineData(0, 4)]
    [InlineData(6, 6)]
    [InlineData(17, 17)]
    [InlineData(30, 17)]
    [InlineData(-5, 4)]
    public void Poll_is_echoed_within_the_protocol_limits(sbyte requested, sbyte echoed)
    {
        (ServerResponder responder, _) = LocalClockServer();
        var reply = new byte[ServerResponder.MaxReplyLength];
        responder.Respond(Request(4, NtpMode.Client, requested), Received, reply);
        Assert.Equal(echoed, (sbyte)reply[2]);
    }

    [Fact]
    public void An_unsynchronized_server_says_leap_3_and_stratum_0_on_the_wire()
    {
        var responder = new ServerResponder(new FixedClock(Transmit), SystemState.Unsynchronized(-20));
        var reply = new byte[ServerResponder.MaxReplyLength];
        responder.Respond(Request(4, NtpMode.Client), Received, reply);
        NtpHeader.TryRead(reply, out NtpHeader h);
        Assert.Equal(LeapIndicator.Unsynchronized, h.Leap);
        Assert.Equal(0, h.Stratum);
        Assert.Equal("INIT", h.ReferenceId.ToAscii());
    }

    [Fact]
    public void Everything_else_is_dropped_and_counted_by_reason()
    {
        (ServerResponder responder, _) = LocalClockServer();
        var reply = new byte[ServerResponder.MaxReplyLength];
        byte[] badVersion = Request(4, NtpMode.Client);
        badVersion[0] = 0x3B; // version 7

        Assert.Equal(0, responder.Respond(Array.Empty<byte>(), Received, reply));
        Assert.Equal(0, responder.Respond(Request(4, NtpMode.Client)[..40], Received, reply));
        Assert.Equal(0, responder.Respond(Request(4, NtpMode.Client, length: 56), Received, reply));
        Assert.Equal(0, responder.Respond(badVersion, Received, reply));
        Assert.Equal(0, responder.Respond(Request(4, NtpMode.Server), Received, reply));
        Assert.Equal(0, responder.Respond(Request(4, NtpMode.Broadcast), Received, reply));
        Assert.Equal(0, responder.Respond(Request(4, NtpMode.Control, length: 12), Received, reply));
        Assert.Equal(0, responder.Respond(Request(2, NtpMode.Private, length: 8), Received, reply));

        PacketCounters c = responder.Counters;
        Assert.Equal(8, c.Received);
        Assert.Equal(0, c.Answered);
        Assert.Equal(3, c.Dropped(DropReason.BadLength));
        Assert.Equal(1, c.Dropped(DropReason.BadVersion));
        Assert.Equal(2, c.Dropped(DropReason.Declined));
        Assert.Equal(1, c.Dropped(DropReason.Control));
        Assert.Equal(1, c.Dropped(DropReason.Mode7));
        Assert.Equal(8, c.TotalDropped);
    }

    [Fact]
    public void Responding_allocates_nothing()
    {
        (ServerResponder responder, _) = LocalClockServer();
        byte[] request = Request(4, NtpMode.Client);
        var reply = new byte[ServerResponder.MaxReplyLength];
        responder.Respond(request, Received, reply);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            responder.Respond(request, Received, reply);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(MacAlgorithm.Md5, 68)]
    [InlineData(MacAlgorithm.Sha1, 72)]
    [InlineData(MacAlgorithm.Aes128Cmac, 68)]
    public void A_request_signed_with_a_trusted_key_gets_a_signed_reply_and_a_bad_one_a_crypto_nak(MacAlgorithm algorithm, int signedLength)
    {
        var keys = new KeyStore(new AuthCounters());
        byte[] secret = Convert.FromHexString("00112233445566778899aabbccddeeff");
        keys.Replace([new SymmetricKey(9, algorithm, secret)]);
        var clock = new FixedClock(Transmit);
        var state = new SystemState(LeapIndicator.NoWarning, 2, -23, 0, 0.001, ReferenceId.FromAscii("GPS"), RefTime);
        var responder = new ServerResponder(clock, state) { Keys = keys };
        var reply = new byte[ServerResponder.MaxReplyLength];

        byte[] signed = Mac.Append(algorithm, 9, secret, Request(4, NtpMode.Client));
        int length = responder.Respond(signed, Received, reply, AccessFlags.NoTrust, RateVerdict.Ok);
        Assert.Equal(signedLength, length);
        Assert.Equal(PacketStatus.Ok, NtpPacket.TryParse(reply.AsSpan(0, length), out NtpPacket packet));
        Assert.Equal(9u, packet.KeyId);
        Assert.True(Mac.Verify(algorithm, secret, packet.Authenticated, packet.Digest));

        byte[] forged = Mac.Append(algorithm, 9, "wrong key 012345"u8, Request(4, NtpMode.Client));
        Assert.Equal(52, responder.Respond(forged, Received, reply, AccessFlags.None, RateVerdict.Ok));
        Assert.Equal(PacketStatus.Ok, NtpPacket.TryParse(reply.AsSpan(0, 52), out NtpPacket nak));
        Assert.True(nak.IsCryptoNak);
        Assert.Equal(1, responder.Counters.Dropped(DropReason.BadAuth));
        Assert.Equal(1, keys.Counters.DigestFails + keys.Counters.CmacFails);

        // notrust: an unsigned request gets nothing.
        Assert.Equal(0, responder.Respond(Request(4, NtpMode.Client), Received, reply, AccessFlags.NoTrust, RateVerdict.Ok));
    }

    [Theory]
    [InlineData(AccessFlags.Ignore, RateVerdict.Ok, null)]
    [InlineData(AccessFlags.Ignore | AccessFlags.Kod, RateVerdict.LimitedMayKiss, null)]
    [InlineData(AccessFlags.NoServe, RateVerdict.Ok, null)]
    [InlineData(AccessFlags.NoServe | AccessFlags.Kod, RateVerdict.Ok, "DENY")]
    [InlineData(AccessFlags.NoTrust | AccessFlags.Kod, RateVerdict.Ok, "RSTR")]
    [InlineData(AccessFlags.Limited, RateVerdict.LimitedMayKiss, null)]
    [InlineData(AccessFlags.Limited | AccessFlags.Kod, RateVerdict.Limited, null)]
    [InlineData(AccessFlags.Limited | AccessFlags.Kod, RateVerdict.LimitedMayKiss, "RATE")]
    public void Refused_requests_get_nothing_or_a_kiss_that_tells_no_time(AccessFlags access, RateVerdict rate, string? kiss)
    {
        (ServerResponder responder, _) = LocalClockServer();
        var reply = new byte[ServerResponder.MaxReplyLength];
        int length = responder.Respond(Request(4, NtpMode.Client, poll: 4), Received, reply, access, rate);

        if (kiss is null)
        {
            Assert.Equal(0, length);
            Assert.Equal(0, responder.Counters.Kisses);
            return;
        }

        Assert.Equal(48, length);
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader h));
        Assert.Equal(kiss, h.ReferenceId.ToAscii());
        Assert.Equal((0, LeapIndicator.Unsynchronized, NtpMode.Server), (h.Stratum, h.Leap, h.Mode));
        Assert.Equal(4, h.Poll);
        var origin = new NtpTimestamp(0xDEADBEEF_01234567);
        Assert.Equal((origin, origin, origin), (h.OriginTimestamp, h.ReceiveTimestamp, h.TransmitTimestamp));
        Assert.Equal(1, responder.Counters.Kisses);
        Assert.Equal(1, responder.Counters.Dropped(kiss == "RATE" ? DropReason.Limited : DropReason.Restricted));
    }

    [Fact]
    public void Limited_addresses_within_the_rate_and_version_restrictions()
    {
        (ServerResponder responder, _) = LocalClockServer();
        var reply = new byte[ServerResponder.MaxReplyLength];
        Assert.Equal(48, responder.Respond(Request(4, NtpMode.Client), Received, reply, AccessFlags.Limited | AccessFlags.Kod, RateVerdict.Ok));
        Assert.Equal(0, responder.Respond(Request(3, NtpMode.Client), Received, reply, AccessFlags.Version, RateVerdict.Ok));
        Assert.Equal(48, responder.Respond(Request(4, NtpMode.Client), Received, reply, AccessFlags.Version, RateVerdict.Ok));
        // A RATE kiss asks for at least the server's average interval (discard average, 2^3 s).
        Assert.Equal(48, responder.Respond(Request(4, NtpMode.Client, poll: 0), Received, reply, AccessFlags.Limited | AccessFlags.Kod, RateVerdict.LimitedMayKiss));
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader h));
        Assert.Equal(3, h.Poll);
    }
}

public sealed class OnWireSampleTests
{
    [Fact]
    public void Offset_and_delay_follow_rfc5905()
    {
        // Client 2.5 ms behind the server, 4 ms each way, 1 ms in the server.
        NtpTimestamp t1 = NtpTimestamp.FromDateTime(new DateTime(2026, 11, 22, 10, 0, 0, DateTimeKind.Utc));
        NtpTimestamp t2 = t1 + NtpDuration.FromSeconds(0.004 + 0.0025);
        NtpTimestamp t3 = t2 + NtpDuration.FromSeconds(0.001);
        NtpTimestamp t4 = t3 + NtpDuration.FromSeconds(0.004 - 0.0025);

        OnWireSample s = OnWireSample.FromTimestamps(t1, t2, t3, t4);

        Assert.Equal(0.0025, s.Offset.ToSeconds(), 9);
        Assert.Equal(0.008, s.Delay.ToSeconds(), 9);
    }

    [Fact]
    public void Samples_across_the_2036_rollover_are_right()
    {
        NtpTimestamp t1 = new(0xFFFF_FFFF, 0xF000_0000);
        NtpTimestamp t2 = t1 + NtpDuration.FromSeconds(1.010);
        NtpTimestamp t3 = t2 + NtpDuration.FromSeconds(0.001);
        NtpTimestamp t4 = t3 + NtpDuration.FromSeconds(0.010 - 1);

        OnWireSample s = OnWireSample.FromTimestamps(t1, t2, t3, t4);

        Assert.Equal(1.0, s.Offset.ToSeconds(), 9);
        Assert.Equal(0.020, s.Delay.ToSeconds(), 9);
    }
}

public sealed class ClockFilterTests
{
    private static OnWireSample Sample(double offset, double delay) => new(NtpDuration.FromSeconds(offset), NtpDuration.FromSeconds(delay));

    [Fact]
    public void The_least_delay_sample_wins()
    {
        var filter = new ClockFilter();
        filter.Add(Sample(0.010, 0.050), 0.001, 0);
        filter.Add(Sample(0.002, 0.020), 0.001, 1);
        filter.Add(Sample(0.030, 0.090), 0.001, 2);

        Assert.Equal(0.002, filter.Offset, 9);
        Assert.Equal(0.020, filter.Delay, 9);
        Assert.Equal(3, filter.Count);
        // RMS of (0.010-0.002, 0.030-0.002) over n-1 = 2.
        Assert.Equal(Math.Sqrt((0.008 * 0.008 + 0.028 * 0.028) / 2), filter.Jitter, 9);
    }

    [Fact]
    public void Empty_stages_weigh_in_at_maximum_dispersion()
    {
        var filter = new ClockFilter();
        filter.Add(Sample(0, 0.01), 0, 0);
        // One stage of dispersion 0 (weight 1/2), seven empty stages of 16 s with weights 1/4 .. 1/256.
        Assert.Equal(16 * (0.5 - 1.0 / 256), filter.Dispersion, 9);
    }

    [Fact]
    public void Older_stages_age_at_phi_and_the_register_holds_eight()
    {
        var filter = new ClockFilter();
        for (int i = 0; i < 10; i++)
        {
            filter.Add(Sample(i * 0.001, 0.01 + i * 0.001), 0, i * 64);
        }

        IReadOnlyList<ClockFilter.Stage> stages = filter.StagesInArrivalOrder;
        Assert.Equal(8, stages.Count);
        Assert.Equal(0.002, stages[0].Offset, 9);
        Assert.Equal(0.009, stages[7].Offset, 9);
        Assert.Equal(15e-6 * 7 * 64, stages[0].Dispersion, 9);
        // Each older sample has 0.5 ms less delay/2 but 0.96 ms more aged dispersion: the newest is the best.
        Assert.Equal(0.009, filter.Offset, 9);
    }

    [Fact]
    public void A_sample_is_news_only_once()
    {
        var filter = new ClockFilter();
        Assert.True(filter.Add(Sample(0.001, 0.010), 0, 0));
        // A worse sample a second later: the first stays the choice, so there is no news.
        Assert.False(filter.Add(Sample(0.050, 0.090), 0, 1));
        Assert.Equal(0.001, filter.Offset, 9);
        Assert.True(filter.Add(Sample(0.002, 0.008), 0, 2));
    }
}

public sealed class ReplyCheckTests
{
    private static readonly NtpTimestamp Sent = new(0xEEAC_E559, 0x11C3_1478);

    private static byte[] Reply(NtpMode mode, NtpTimestamp origin)
    {
        var reply = new byte[ServerResponder.MinReplyBufferLength];
        new NtpHeader { Version = 4, Mode = mode, Stratum = 2, OriginTimestamp = origin }.Write(reply);
        return reply;
    }

    [Fact]
    public void A_reply_to_our_request_is_accepted()
    {
        Assert.Equal(ReplyStatus.Accepted, ReplyCheck.Check(Reply(NtpMode.Server, Sent), Sent, out NtpHeader h));
        Assert.Equal(2, h.Stratum);
        Assert.Equal(ReplyStatus.Accepted, ReplyCheck.Check(Reply(NtpMode.SymmetricPassive, Sent), Sent, out _));
    }

    [Fact]
    public void Stale_forged_misdirected_and_malformed_replies_are_refused()
    {
        Assert.Equal(ReplyStatus.BogusOrigin, ReplyCheck.Check(Reply(NtpMode.Server, new NtpTimestamp(Sent.Value + 1)), Sent, out _));
        Assert.Equal(ReplyStatus.UnexpectedMode, ReplyCheck.Check(Reply(NtpMode.Client, Sent), Sent, out _));
        Assert.Equal(ReplyStatus.UnexpectedMode, ReplyCheck.Check(Reply(NtpMode.Broadcast, Sent), Sent, out _));
        Assert.Equal(ReplyStatus.Malformed, ReplyCheck.Check(Reply(NtpMode.Server, Sent)[..47], Sent, out _));
    }
}

public sealed class ServerReplyTests
{
    private static NtpHeader Usable => new()
    {
        Leap = LeapIndicator.NoWarning, Version = 4, Mode = NtpMode.Server, Stratum = 2,
        ReceiveTimestamp = new NtpTimestamp(1, 0), TransmitTimestamp = new NtpTimestamp(1, 1),
    };

    [Fact]
    public void A_synchronized_reply_with_timestamps_is_usable() => Assert.Equal(Unsuitability.None, ServerReply.Judge(Usable));

    [Fact]
    public void Each_reason_is_recognized_in_order()
    {
        Assert.Equal(Unsuitability.StratumTooHigh, ServerReply.Judge(Usable with { Stratum = 16, Leap = LeapIndicator.Unsynchronized }));
        Assert.Equal(Unsuitability.KissOfDeath, ServerReply.Judge(Usable with { Stratum = 0, ReferenceId = KissCode.Rate }));
        Assert.Equal(Unsuitability.KissOfDeath, ServerReply.Judge(Usable with { Stratum = 0, Leap = LeapIndicator.Unsynchronized, ReferenceId = KissCode.Deny }));
        Assert.Equal(Unsuitability.Unsynchronized, ServerReply.Judge(Usable with { Stratum = 0, Leap = LeapIndicator.Unsynchronized, ReferenceId = KissCode.Init }));
        Assert.Equal(Unsuitability.Unsynchronized, ServerReply.Judge(Usable with { Leap = LeapIndicator.Unsynchronized }));
        Assert.Equal(Unsuitability.ZeroTimestamps, ServerReply.Judge(Usable with { ReceiveTimestamp = NtpTimestamp.Zero }));
    }

    [Fact]
    public void A_sample_starts_with_both_precisions_and_phi_over_its_delay()
    {
        var sample = new OnWireSample(NtpDuration.Zero, NtpDuration.FromSeconds(0.1));
        Assert.Equal(Math.Pow(2, -20) + 1e-6 + 15e-6 * 0.1, sample.Dispersion(-20, 1e-6), 12);
    }
}
