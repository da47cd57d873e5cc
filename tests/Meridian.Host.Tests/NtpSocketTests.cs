using System.Net;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Host.Tests;

public sealed class NtpSocketTests
{
    [Fact]
    public void Loopback_datagram_arrives_with_kernel_timestamp_and_destination()
    {
        using NtpSocket server = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using NtpSocket client = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var datagram = new Datagram();
        long before = LinuxClock.UnixNanoseconds();
        client.SendTo(new byte[] { 1, 2, 3 }, server.LocalEndPoint);

        Assert.Equal(ReceiveResult.Received, server.Receive(datagram, 2000));
        long after = LinuxClock.UnixNanoseconds();

        Assert.Equal(new byte[] { 1, 2, 3 }, datagram.Payload.ToArray());
        Assert.Equal(client.LocalEndPoint, datagram.RemoteEndPoint);
        Assert.NotNull(datagram.KernelReceiveTime);
        long kernel = datagram.KernelReceiveTime!.Value.ToUnixNanoseconds();
        Assert.InRange(kernel, before, after);
    }
}

public sealed class ReceiveTimestampTests
{
    /// <summary>The system clock as an interposer would make the process see it: some seconds off the kernel's.</summary>
    private sealed class ShiftedClock(double seconds) : Meridian.Engine.IClock
    {
        public NtpTimestamp Now() => LinuxClock.Instance.Now() + NtpDuration.FromSeconds(seconds);
    }

    [Fact]
    public void Kernel_stamps_are_used_only_when_the_kernel_stamps_on_the_clock_the_process_reads()
    {
        Assert.True(ReceiveTimestamps.Trusted(LinuxClock.Instance));
        var shifted = new ShiftedClock(0.3);
        Assert.False(ReceiveTimestamps.Trusted(shifted));
        // −0.3 s plus the probe's own delay between the kernel's stamp and the read, which a loaded machine has
        // stretched to 15 ms: far from 0 either way, which is what the verdict rests on.
        Assert.InRange(ReceiveTimestamps.Difference(shifted), -0.31, -0.2);

        using NtpSocket server = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using NtpSocket client = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var datagram = new Datagram();
        client.SendTo(new byte[] { 1 }, server.LocalEndPoint);
        Assert.Equal(ReceiveResult.Received, server.Receive(datagram, 2000));
        Assert.Equal(datagram.KernelReceiveTime, datagram.ArrivalTime(LinuxClock.Instance));
        // With the shifted clock the arrival is its own reading, 0.3 s past the kernel's stamp.
        Assert.InRange((datagram.ArrivalTime(shifted) - datagram.KernelReceiveTime!.Value).ToSeconds(), 0.29, 0.5);
    }

    [Fact]
    public void A_socket_carries_the_dscp_it_was_given()
    {
        using NtpSocket socket = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.SetDscp(46);
        Assert.Equal(46, socket.Dscp);
    }
}

public sealed class ServingPathAllocationTests
{
    /// <summary>
    /// What a serving thread does per request — receive, read the arrival time and the sender's key, answer — must not
    /// allocate: under a flood of 50 000 requests a second, garbage grows the daemon's memory by the collector's budget.
    /// </summary>
    [Fact]
    public void Receiving_and_answering_a_request_allocates_nothing()
    {
        using NtpSocket server = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using NtpSocket client = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        IPEndPoint to = server.LocalEndPoint;
        using var datagram = new Datagram();
        using var answer = new Datagram();
        byte[] request = new byte[48];
        request[0] = 0x23;

        // Once to warm up (the timestamp probe and the JIT allocate once), then only the server's side is counted.
        long allocated = 0;
        for (int i = 0; i <= 100; i++)
        {
            client.SendTo(request, to);
            long before = GC.GetAllocatedBytesForCurrentThread();
            bool served = Serve(server, datagram);
            allocated += i == 0 ? 0 : GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(served);
            Assert.Equal(ReceiveResult.Received, client.Receive(answer, 2000));
        }

        Assert.Equal(0, allocated);
    }

    private static bool Serve(NtpSocket server, Datagram datagram)
    {
        Span<byte> reply = stackalloc byte[48];
        if (server.Receive(datagram, 2000) != ReceiveResult.Received || datagram.SentToGroup)
        {
            return false;
        }

        NtpTimestamp arrival = datagram.ArrivalTime(LinuxClock.Instance);
        Meridian.Engine.MruKey key = datagram.SourceKey;
        reply[0] = (byte)(arrival.Seconds + key.Port);
        return server.Reply(datagram, reply);
    }
}
