using System.Net;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Host.Tests;

public sealed class NtpDaemonTests
{
    private static NtpDaemon StartDaemon(string config, IPAddress listen)
    {
        NtpConfiguration parsed = ConfigParser.Parse(config, "test.conf");
        Assert.False(parsed.HasErrors, string.Join("\n", parsed.Diagnostics));
        var daemon = new NtpDaemon(
            parsed,
            new DaemonOptions { Port = 0, ListenAddresses = [listen] },
            Log.ToWriter("ntpd", TextWriter.Null),
            LinuxClock.Instance,
            -20);
        daemon.Start();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!daemon.Responder.State.IsSynchronized && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(100);
        }

        Assert.True(daemon.Responder.State.IsSynchronized, "the local clock was not selected within 30 s");
        return daemon;
    }

    private static byte[] Query(IPEndPoint server, byte version = 4, sbyte poll = 6)
    {
        using var client = new System.Net.Sockets.UdpClient(server.AddressFamily);
        client.Client.ReceiveTimeout = 2000;
        var request = new byte[NtpHeader.Size];
        new NtpHeader { Version = version, Mode = NtpMode.Client, Poll = poll, TransmitTimestamp = new NtpTimestamp(0x1234_5678_9abc_def0) }.Write(request);
        client.Send(request, server);
        IPEndPoint? from = null;
        return client.Receive(ref from);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("::1")]
    [InlineData("::")]
    public void Serves_local_clock_at_fudged_stratum_plus_one(string listen)
    {
        using NtpDaemon daemon = StartDaemon("server 127.127.1.0\nfudge 127.127.1.0 stratum 10\ndisable ntp\n", IPAddress.Parse(listen));
        IPEndPoint bound = daemon.LocalEndPoints[0];
        IPAddress target = bound.Address.Equals(IPAddress.Any) ? IPAddress.Loopback : bound.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : bound.Address;
        NtpTimestamp before = LinuxClock.Instance.Now();

        byte[] reply = Query(new IPEndPoint(target, bound.Port), version: 3, poll: 8);

        NtpTimestamp after = LinuxClock.Instance.Now();
        Assert.Equal(NtpHeader.Size, reply.Length);
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader header));
        Assert.Equal(NtpMode.Server, header.Mode);
        Assert.Equal(3, header.Version);
        Assert.Equal(11, header.Stratum);
        Assert.Equal(8, header.Poll);
        Assert.Equal(LeapIndicator.NoWarning, header.Leap);
        Assert.Equal("LOCL", header.ReferenceId.ToAscii());
        Assert.Equal(new NtpTimestamp(0x1234_5678_9abc_def0), header.OriginTimestamp);
        Assert.True(header.ReceiveTimestamp.CompareTo(before) >= 0 && header.ReceiveTimestamp.CompareTo(after) <= 0);
        Assert.True(header.TransmitTimestamp.CompareTo(header.ReceiveTimestamp) >= 0 && header.TransmitTimestamp.CompareTo(after) <= 0);
        Assert.Equal(1, daemon.Responder.Counters.Answered);
    }

    [Fact]
    public void Tos_orphan_without_sources_serves_the_orphan_stratum_and_precision_is_configurable()
    {
        using NtpDaemon daemon = StartDaemon("tos orphan 7 orphanwait 0\nprecision -18\ndisable ntp\n", IPAddress.Loopback);

        byte[] reply = Query(daemon.LocalEndPoints[0]);

        Assert.True(NtpHeader.TryRead(reply, out NtpHeader header));
        Assert.Equal(7, header.Stratum);
        Assert.Equal(LeapIndicator.NoWarning, header.Leap);
        Assert.Equal(ReferenceId.OrphanParent, header.ReferenceId);
        Assert.Equal(-18, header.Precision);
        Assert.True(daemon.Engine.IsOrphanParent);
    }
}
