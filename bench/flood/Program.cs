using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Meridian.Protocol;

namespace Meridian.Bench.Flood;

/// <summary>
/// The flood benchmark: one source sends client requests at a fixed rate (default 50 000/s for 10 s) at a server
/// while well-behaved clients on other addresses poll it every few seconds. Prints what each side got back: normal
/// replies, kiss-o'-death packets, unanswered requests, and (with --server-pid) the server's resident memory before and
/// after. Run it where the addresses exist (a network namespace: see tests/Meridian.Interop.Tests/FloodTests.cs).
/// Bounded: it stops after --seconds and sends at most rate × seconds packets.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        Dictionary<string, string> o = Load.Options(args, new()
        {
            ["server"] = "198.18.0.1", ["flooder"] = "198.18.0.2", ["clients"] = "", ["rate"] = "50000", ["seconds"] = "10",
            ["interval"] = "2", ["server-pid"] = "0", ["mode6"] = "0",
        });

        var server = new IPEndPoint(IPAddress.Parse(o["server"]), 123);
        if (o.Int("mode6") is int readvars and > 0)
        {
            return Mode6(server, IPAddress.Parse(o["flooder"]), readvars);
        }

        int rate = o.Int("rate");
        double seconds = o.Double("seconds");
        double interval = o.Double("interval");
        int pid = o.Int("server-pid");
        IPAddress[] clients = o["clients"].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(IPAddress.Parse).ToArray();

        long memoryBefore = Load.ResidentKilobytes(pid);
        var flood = new Counts();
        var polite = new Counts();
        using var flooder = Load.Bind(IPAddress.Parse(o["flooder"]));
        var stop = new CancellationTokenSource();
        var floodReader = new Thread(() => Read(flooder, flood, stop.Token)) { IsBackground = true };
        floodReader.Start();
        var politeThread = new Thread(() => Poll(clients, server, interval, polite, stop.Token)) { IsBackground = true };
        politeThread.Start();

        var clock = Stopwatch.StartNew();
        var request = new byte[NtpHeader.Size];
        long limit = (long)(rate * seconds);
        long memoryPeak = memoryBefore;
        while (flood.Sent < limit && clock.Elapsed.TotalSeconds < seconds + 1)
        {
            long due = (long)(clock.Elapsed.TotalSeconds * rate);
            while (flood.Sent < Math.Min(due, limit))
            {
                Load.Request(request, (ulong)flood.Sent);
                flooder.SendTo(request, server);
                flood.Sent++;
            }

            if (flood.Sent % 50_000 < 50)
            {
                memoryPeak = Math.Max(memoryPeak, Load.ResidentKilobytes(pid));
            }

            Thread.SpinWait(50);
        }

        double elapsed = clock.Elapsed.TotalSeconds;
        Thread.Sleep(TimeSpan.FromSeconds(Math.Max(1.5, interval)));
        stop.Cancel();
        politeThread.Join();
        long memoryAfter = Load.ResidentKilobytes(pid);
        memoryPeak = Math.Max(memoryPeak, memoryAfter);

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"flood: sent {flood.Sent} requests in {elapsed:0.0} s ({flood.Sent / elapsed:0} per s); got {flood.Replies} normal replies and {flood.Kisses} kiss-o'-death ({flood.RateKisses} RATE)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"clients: {clients.Length} clients sent {polite.Sent} requests, {polite.Replies} answered, {polite.Kisses} kissed, {polite.Sent - polite.Replies - polite.Kisses} unanswered"));
        if (pid > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"server memory (VmRSS): {memoryBefore} kB before, {memoryPeak} kB peak, {memoryAfter} kB after"));
        }

        return 0;
    }

    /// <summary>
    /// --mode6 N: N mode 6 READVAR requests (12 octets each, as ntpq's plain "rv" sends) spread over one second from
    /// one address, then two seconds to collect the answers: how many octets came back for the octets sent, the
    /// amplification a spoofed flood would get.
    /// </summary>
    private static int Mode6(IPEndPoint server, IPAddress from, int count)
    {
        using Socket socket = Load.Bind(from);
        var request = new byte[ControlHeader.Size];
        long answered = 0;
        long answers = 0;
        var reader = new Thread(() =>
        {
            var buffer = new byte[2048];
            socket.ReceiveTimeout = 200;
            var quiet = Stopwatch.StartNew();
            while (quiet.Elapsed.TotalSeconds < 5)
            {
                try
                {
                    answered += socket.Receive(buffer);
                    answers++;
                }
                catch (SocketException)
                {
                }
            }
        }) { IsBackground = true };
        reader.Start();

        var clock = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            while (clock.Elapsed.TotalSeconds < i / (double)count)
            {
                Thread.SpinWait(20);
            }

            new ControlHeader { Version = 2, Opcode = ControlOpcode.ReadVariables, Sequence = (ushort)(i + 1) }.Write(request, []);
            socket.SendTo(request, server);
        }

        double elapsed = clock.Elapsed.TotalSeconds;
        reader.Join();
        long sent = (long)count * request.Length;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mode6: sent {count} READVAR requests ({sent} octets) in {elapsed:0.0} s; got {answers} answers ({answered} octets): {answered / (double)sent:0.00} octets out per octet in"));
        return 0;
    }

    private sealed class Counts
    {
        public long Sent;
        public long Replies;
        public long Kisses;
        public long RateKisses;
    }

    private static void Read(Socket socket, Counts counts, CancellationToken stop)
    {
        var buffer = new byte[512];
        socket.ReceiveTimeout = 200;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                int length = socket.Receive(buffer);
                Classify(buffer.AsSpan(0, length), counts);
            }
            catch (SocketException)
            {
            }
        }
    }

    private static void Classify(ReadOnlySpan<byte> reply, Counts counts)
    {
        if (!NtpHeader.TryRead(reply, out NtpHeader header))
        {
            return;
        }

        if (header.Stratum == 0)
        {
            Interlocked.Increment(ref counts.Kisses);
            if (header.ReferenceId.ToAscii() == "RATE")
            {
                Interlocked.Increment(ref counts.RateKisses);
            }
        }
        else
        {
            Interlocked.Increment(ref counts.Replies);
        }
    }

    /// <summary>Each client sends one request every interval seconds and waits up to a second for its answer.</summary>
    private static void Poll(IPAddress[] clients, IPEndPoint server, double interval, Counts counts, CancellationToken stop)
    {
        Socket[] sockets = clients.Select(Load.Bind).ToArray();
        var request = new byte[NtpHeader.Size];
        var buffer = new byte[512];
        var clock = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested && clock.Elapsed.TotalSeconds < 3600)
        {
            double start = clock.Elapsed.TotalSeconds;
            for (int i = 0; i < sockets.Length; i++)
            {
                Load.Request(request, (ulong)(i << 20) + (ulong)counts.Sent);
                sockets[i].SendTo(request, server);
                counts.Sent++;
                sockets[i].ReceiveTimeout = 1000;
                try
                {
                    int length = sockets[i].Receive(buffer);
                    Classify(buffer.AsSpan(0, length), counts);
                }
                catch (SocketException)
                {
                }
            }

            double rest = interval - (clock.Elapsed.TotalSeconds - start);
            if (rest > 0)
            {
                stop.WaitHandle.WaitOne(TimeSpan.FromSeconds(rest));
            }
        }

        foreach (Socket socket in sockets)
        {
            socket.Dispose();
        }
    }
}
