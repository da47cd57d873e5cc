using System.Net;
using System.Net.Sockets;
using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Protocol;
using Meridian.Protocol.Nts;

namespace Meridian.Client.Tests;

public sealed class NtpClientTests
{
    /// <summary>A clock that moves 1 ms every time it is read: the order of the reads shows in the values.</summary>
    private sealed class CountingClock : IClock
    {
        private long _reads;

        public static readonly NtpTimestamp Start = NtpTimestamp.FromDateTime(new DateTime(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc));

        public NtpTimestamp Now() => Start + NtpDuration.FromSeconds(Interlocked.Increment(ref _reads) * 0.001);
    }

    [Fact]
    public void T1_is_read_after_the_request_is_built_and_signed_and_the_reply_is_matched_by_what_it_carried()
    {
        using var server = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var endPoint = (IPEndPoint)server.Client.LocalEndPoint!;
        var clock = new CountingClock();
        var key = new SymmetricKey(9, MacAlgorithm.Sha1, "0123456789abcdef0123"u8);
        using NtpClient client = NtpClient.Open(clock, [IPAddress.Loopback], 0);
        client.Key = key;

        NtpTimestamp t1 = client.SendRequest(endPoint, 4);

        IPEndPoint? from = null;
        byte[] request = server.Receive(ref from);
        Assert.Equal(NtpHeader.Size + key.TrailerLength, request.Length);
        Assert.True(NtpHeader.TryRead(request, out NtpHeader sent));
        // The packet's timestamp was read first, T1 after the MAC: just before sendmsg.
        Assert.Equal(0.001, (t1 - sent.TransmitTimestamp).ToSeconds(), 9);

        var reply = new byte[NtpHeader.Size + key.TrailerLength];
        new NtpHeader
        {
            Version = 4, Mode = NtpMode.Server, Stratum = 2, ReferenceId = ReferenceId.FromAscii("TEST"),
            OriginTimestamp = sent.TransmitTimestamp, ReceiveTimestamp = t1, TransmitTimestamp = t1,
            ReferenceTimestamp = t1,
        }.Write(reply);
        key.Sign(reply, NtpHeader.Size);
        server.Send(reply, from!);

        NtpResponse? response = client.Receive(DateTime.UtcNow.AddSeconds(5));
        Assert.NotNull(response);
        Assert.Equal(t1, response!.T1);
    }

    /// <summary>A reply to <paramref name="request"/> from a server at stratum <paramref name="stratum"/>, with the NTS Unique Identifier echoed when asked.</summary>
    private static byte[] Reply(byte[] request, byte stratum, ReferenceId refid, bool echoIdentifier)
    {
        Assert.True(NtpHeader.TryRead(request, out NtpHeader sent));
        var reply = new byte[200];
        new NtpHeader
        {
            Version = 4, Mode = NtpMode.Server, Stratum = stratum, ReferenceId = refid,
            Leap = stratum == 0 ? LeapIndicator.Unsynchronized : LeapIndicator.NoWarning,
            OriginTimestamp = sent.TransmitTimestamp, ReceiveTimestamp = sent.TransmitTimestamp, TransmitTimestamp = sent.TransmitTimestamp,
        }.Write(reply);
        int length = NtpHeader.Size;
        if (echoIdentifier)
        {
            Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(request, out NtsFields fields));
            length += NtsFieldWriter.WriteUniqueIdentifier(reply.AsSpan(NtpHeader.Size), fields.UniqueIdentifier);
        }

        return reply[..length];
    }

    [Fact]
    public void With_nts_an_unauthenticated_reply_is_refused_and_a_nak_ends_the_wait_saying_why()
    {
        // ntpdig --nts (RFC 8915 §5.7): only a reply whose authenticator opens counts; a NAK says the cookie was not usable.
        using var server = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var endPoint = (IPEndPoint)server.Client.LocalEndPoint!;
        using NtsClientState nts = NtsClientState.FromKeyExchange(NtsAeadId.AesSivCmac256, new byte[32], new byte[32], [new byte[100], new byte[100]]);
        using NtpClient client = NtpClient.Open(new CountingClock(), [IPAddress.Loopback], 0);
        client.Nts = nts;

        client.SendRequest(endPoint, 4);
        IPEndPoint? from = null;
        byte[] request = server.Receive(ref from);
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(request, out NtsFields asked));
        Assert.True(asked.HasAuthenticator);
        server.Send(Reply(request, 2, ReferenceId.FromAscii("TEST"), echoIdentifier: false), from!);
        Assert.Null(client.Receive(DateTime.UtcNow.AddSeconds(0.5)));
        Assert.Equal($"a reply from {IPAddress.Loopback} failed the NTS checks (Unique Identifier or authenticator)", client.NtsRefusal);

        client.SendRequest(endPoint, 4);
        request = server.Receive(ref from);
        server.Send(Reply(request, 0, KissCode.Ntsn, echoIdentifier: true), from!);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        Assert.Null(client.Receive(DateTime.UtcNow.AddSeconds(5)));
        Assert.True(waited.Elapsed < TimeSpan.FromSeconds(4), $"the NAK did not end the wait ({waited.Elapsed})");
        Assert.Equal($"NTS NAK from {IPAddress.Loopback}: the server could not use our cookie", client.NtsRefusal);
    }

    [Fact]
    public void Ntpdate_and_ntpdig_choose_by_one_rule_lowest_stratum_then_least_distance()
    {
        NtpHeader Server(byte stratum, double rootDelay, double rootDispersion) => new()
        {
            Stratum = stratum, RootDelay = NtpShort.FromSeconds(rootDelay), RootDispersion = NtpShort.FromSeconds(rootDispersion),
        };

        var candidates = new[]
        {
            (Name: "far stratum 1", Header: Server(1, 1.6, 0.5), Delay: 0.4, Dispersion: 0.1),
            (Name: "near stratum 2", Header: Server(2, 0.01, 0.01), Delay: 0.001, Dispersion: 0.001),
            (Name: "farther stratum 2", Header: Server(2, 0.2, 0.05), Delay: 0.05, Dispersion: 0.01),
            (Name: "stratum 1", Header: Server(1, 0.3, 0.1), Delay: 0.2, Dispersion: 0.01),
        };
        double Distance((string Name, NtpHeader Header, double Delay, double Dispersion) c) => ServerSelection.Distance(c.Header, c.Delay, c.Dispersion);

        // The far stratum 1 is beyond the 1.5 s distance threshold; of the rest the lowest stratum wins.
        Assert.Equal("stratum 1", ServerSelection.Best(candidates.Select(c => c.Name).ToList(), n => candidates.Single(c => c.Name == n).Header, n => Distance(candidates.Single(c => c.Name == n))));
        Assert.Equal(1.6 / 2 + 0.5 + 0.4 / 2 + 0.1, Distance(candidates[0]), 3);
        Assert.Null(ServerSelection.Best(new[] { "far stratum 1" }, _ => candidates[0].Header, _ => Distance(candidates[0])));
    }
}
