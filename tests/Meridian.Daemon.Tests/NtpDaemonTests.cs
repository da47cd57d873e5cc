using System.Net;
using Meridian.Client;
using Meridian.Config;
using Meridian.Daemon;
using Meridian.Engine;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Daemon.Tests;

public sealed class NtpDaemonTests
{
    private static NtpDaemon StartDaemon(string config, IPAddress listen, bool singleThread = false) =>
        StartDaemon(config, new DaemonOptions { Port = 0, ListenAddresses = [listen], SingleThread = singleThread });

    private static NtpDaemon StartDaemon(string config, DaemonOptions options)
    {
        NtpConfiguration parsed = ConfigParser.Parse(config, "test.conf");
        Assert.False(parsed.HasErrors, string.Join("\n", parsed.Diagnostics));
        var daemon = new NtpDaemon(parsed, options, Log.ToWriter("ntpd", TextWriter.Null), LinuxClock.Instance, -20);
        daemon.Start();
        daemon.RunInBackground();
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
        Assert.Equal("127.127.1.0", header.ReferenceId.ToDottedQuad()); // stratum 11: the source by its address
        Assert.Equal(new NtpTimestamp(0x1234_5678_9abc_def0), header.OriginTimestamp);
        Assert.True(header.ReceiveTimestamp.CompareTo(before) >= 0 && header.ReceiveTimestamp.CompareTo(after) <= 0);
        Assert.True(header.TransmitTimestamp.CompareTo(header.ReceiveTimestamp) >= 0 && header.TransmitTimestamp.CompareTo(after) <= 0);
        Assert.Equal(1, daemon.Responder.Counters.Answered);
    }

    /// <summary>
    /// The serving threads answer without allocating: under a flood every byte of garbage per request becomes the
    /// collector's budget in resident memory. Counted as all the process allocated while 20 000 requests were answered,
    /// less what this (client) thread allocated; the event loop's timers may allocate a little meanwhile.
    /// </summary>
    [Fact]
    public void Answering_requests_allocates_nothing_per_request()
    {
        using NtpDaemon daemon = StartDaemon("server 127.127.1.0\nfudge 127.127.1.0 stratum 10\ndisable ntp\n", IPAddress.Loopback);
        IPEndPoint server = daemon.LocalEndPoints[0];
        using NtpSocket client = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var answer = new Datagram();
        byte[] request = new byte[NtpHeader.Size];
        new NtpHeader { Version = 4, Mode = NtpMode.Client, TransmitTimestamp = new NtpTimestamp(1) }.Write(request);
        for (int i = 0; i < 1000; i++)
        {
            client.SendTo(request, server);
            Assert.Equal(ReceiveResult.Received, client.Receive(answer, 2000));
        }

        using var ticks = new AllocationTicks();
        const int Requests = 20_000;
        long total = GC.GetTotalAllocatedBytes(precise: true);
        long mine = GC.GetAllocatedBytesForCurrentThread();
        int answered = 0;
        for (int i = 0; i < Requests; i++)
        {
            client.SendTo(request, server);
            answered += client.Receive(answer, 2000) == ReceiveResult.Received ? 1 : 0;
        }

        long others = GC.GetTotalAllocatedBytes(precise: true) - total - (GC.GetAllocatedBytesForCurrentThread() - mine);
        Assert.Equal(Requests, answered);
        Assert.True(others < Requests, $"the daemon allocated {others} bytes while answering {Requests} requests ({(double)others / Requests:0.0} per request; sampled: {string.Join(", ", ticks.Types.Distinct())})");
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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Mode_6_answers_leave_from_the_address_asked_when_the_daemon_has_two(bool singleThread)
    {
        // Two sockets, 127.0.0.1 and 127.0.0.2, on one port. ntpq's socket is connected to the address it asks: an
        // answer from the other address would never reach it (the defect: answers left by the first socket).
        NtpDaemon? daemon = null;
        for (int attempt = 0; daemon is null; attempt++)
        {
            int port = FreePort();
            try
            {
                daemon = StartDaemon(LocalClock, new DaemonOptions { Port = port, ListenAddresses = [IPAddress.Loopback, IPAddress.Parse("127.0.0.2")], SingleThread = singleThread });
            }
            catch (NtpSocketException) when (attempt < 5)
            {
            }
        }

        using (daemon)
        {
            Assert.Equal(2, daemon.LocalEndPoints.Count);
            foreach (IPEndPoint endPoint in daemon.LocalEndPoints)
            {
                using var client = new ControlClient(endPoint) { Timeout = TimeSpan.FromSeconds(2) };
                Assert.Equal("11", client.ReadVariables(0, "stratum").Values["stratum"]);
                Assert.Contains("LOCAL(0)", client.ReadVariables(1, "srchost").Values["srchost"], StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void In_the_one_thread_setting_the_loop_serves_client_requests_too()
    {
        using NtpDaemon daemon = StartDaemon(LocalClock, IPAddress.Loopback, singleThread: true);
        byte[] reply = Query(daemon.LocalEndPoints[0]);
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader header));
        Assert.Equal(11, header.Stratum);
        Assert.Equal(1, daemon.Responder.Counters.Answered);
    }

    [Fact]
    public void The_server_sockets_carry_the_configured_dscp()
    {
        using NtpDaemon daemon = StartDaemon(LocalClock + "dscp 34\n", IPAddress.Loopback);
        Assert.Equal(34, Assert.Single(daemon.Listeners.Sockets).Dscp);
        using NtpDaemon byDefault = StartDaemon(LocalClock, IPAddress.Loopback);
        Assert.Equal(46, Assert.Single(byDefault.Listeners.Sockets).Dscp);
    }

    [Fact]
    public void The_daemon_draws_its_unpredictable_values_from_the_cryptographic_generator()
    {
        NtpConfiguration parsed = ConfigParser.Parse(LocalClock, "test.conf");
        using var daemon = new NtpDaemon(parsed, new DaemonOptions { Port = 0, ListenAddresses = [IPAddress.Loopback] }, Log.ToWriter("ntpd", TextWriter.Null), LinuxClock.Instance, -20);
        Assert.IsType<CryptoRandomSource>(daemon.Engine.Random);

        // Client requests leave from ports drawn at random within the kernel's ephemeral range, not one after another.
        var sockets = Enumerable.Range(0, 16).Select(_ => NtpSocket.BindEphemeral(IPAddress.Loopback)).ToList();
        try
        {
            int[] ports = sockets.Select(s => s.LocalEndPoint.Port).ToArray();
            Assert.All(ports, p => Assert.InRange(p, 1024, 65535));
            Assert.Equal(16, ports.Distinct().Count());
            Assert.True(ports.Zip(ports.Skip(1)).Count(p => Math.Abs(p.First - p.Second) == 1) < 4, string.Join(' ', ports));
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    private const string LocalClock = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\ndisable ntp\n";

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}

/// <summary>The runtime's allocation samples (one per ~100 kB), naming the type allocated and the thread: which code allocates.</summary>
internal sealed class AllocationTicks : System.Diagnostics.Tracing.EventListener
{
    public System.Collections.Concurrent.ConcurrentBag<string> Types { get; } = new();

    protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)1);
        }
    }

    protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs e)
    {
        if (e.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) == true && e.PayloadNames is { } names)
        {
            Types.Add(e.Payload![names.IndexOf("TypeName")] + "@" + e.OSThreadId);
        }
    }
}
