using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Meridian.Protocol;

namespace Meridian.Bench;

/// <summary>What the benchmarks share: their flags, the client sockets and requests they send, and what they read of the server process.</summary>
internal static class Load
{
    /// <summary>
    /// <c>--name value</c> pairs over <paramref name="defaults"/>; an unknown name is an error, so a mistyped flag
    /// cannot silently run the default.
    /// </summary>
    public static Dictionary<string, string> Options(string[] args, Dictionary<string, string> defaults)
    {
        var options = new Dictionary<string, string>(defaults, StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i += 2)
        {
            string name = args[i].TrimStart('-');
            if (!defaults.ContainsKey(name) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"{args[i]}: unknown flag or no value; the flags are {string.Join(", ", defaults.Keys.Select(k => "--" + k))}");
            }

            options[name] = args[i + 1];
        }

        return options;
    }

    public static int Int(this Dictionary<string, string> options, string name) => int.Parse(options[name], CultureInfo.InvariantCulture);

    public static double Double(this Dictionary<string, string> options, string name) => double.Parse(options[name], CultureInfo.InvariantCulture);

    /// <summary>A UDP socket on <paramref name="address"/>, any port, with room for a burst of replies.</summary>
    public static Socket Bind(IPAddress address)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(address, 0));
        socket.ReceiveBufferSize = 1 << 20;
        return socket;
    }

    /// <summary>
    /// A client request's header (mode 3, NTPv4) whose transmit timestamp carries <paramref name="serial"/>: the
    /// server echoes it as the origin, so a reply names the request it answers.
    /// </summary>
    public static void Request(Span<byte> buffer, ulong serial)
    {
        new NtpHeader { Version = 4, Mode = NtpMode.Client, Poll = 6, TransmitTimestamp = new NtpTimestamp(0x1234_5678_0000_0000UL | serial) }.Write(buffer);
    }

    /// <summary>The serial <see cref="Request"/> put in, read back from a reply's origin timestamp.</summary>
    public static ulong Serial(in NtpHeader reply) => reply.OriginTimestamp.Value & 0xFFFF_FFFFUL;

    /// <summary>VmRSS of <paramref name="pid"/> in kB (0 for no process).</summary>
    public static long ResidentKilobytes(int pid)
    {
        if (pid <= 0)
        {
            return 0;
        }

        try
        {
            string? line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>
    /// CPU seconds (utime + stime, proc(5)) of <paramref name="pid"/> and every process below it: a server's threads
    /// are in its own figure, and helper processes (chronyd's NTS-KE helpers) are added, since a child still running
    /// is not in the parent's cutime.
    /// </summary>
    public static double CpuSeconds(int pid)
    {
        var children = new Dictionary<int, List<int>>();
        var ticks = new Dictionary<int, long>();
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out int id))
            {
                continue;
            }

            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(directory, "stat"));
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            // Fields after the command name, which is in parentheses and may hold spaces: state ppid ... utime(14) stime(15).
            string[] f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            int parent = int.Parse(f[1], CultureInfo.InvariantCulture);
            ticks[id] = long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
            if (!children.TryGetValue(parent, out List<int>? list))
            {
                children[parent] = list = [];
            }

            list.Add(id);
        }

        long total = 0;
        var pending = new Stack<int>([pid]);
        while (pending.TryPop(out int id))
        {
            total += ticks.GetValueOrDefault(id);
            foreach (int child in children.GetValueOrDefault(id) ?? [])
            {
                pending.Push(child);
            }
        }

        // USER_HZ is 100 on every Linux the benchmarks run on (sysconf(_SC_CLK_TCK)).
        return total / 100.0;
    }
}
