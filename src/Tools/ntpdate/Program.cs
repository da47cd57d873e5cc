using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Meridian.Engine;
using Meridian.Host;
using Meridian.Client;
using Meridian.Client.CommandLine;
using Meridian.Protocol;

namespace Meridian.Tools.Ntpdate;

/// <summary>
/// <c>ntpdate</c>, as in ntpd 4.2.8: query servers a few times, keep each server's best sample, choose the best
/// server, then step or slew the clock (or, with -q or -d, only report).
/// </summary>
public static class Program
{
    public const string Version = "ntpdate Meridian 0.1.0";

    /// <summary>Offsets at or above this are stepped rather than slewed.</summary>
    public const double StepThreshold = 0.5;

    private const string Usage = "usage: ntpdate [-46bBdqsuv] [-a key#] [-e delay] [-k file] [-p samples] [-o version#] [-t timeo] server ...";

    public static int Main(string[] args)
    {
        if (!new GetOpt("46a:bBde:k:o:p:qst:uv").TryParse(args, out var options, out var servers, out string? error))
        {
            Console.Error.WriteLine($"ntpdate: {error}");
            Console.Error.WriteLine(Usage);
            return 1;
        }

        var settings = new Settings();
        foreach (ParsedOption option in options)
        {
            if (!settings.Apply(option, out string? problem))
            {
                Console.Error.WriteLine($"ntpdate: {problem}");
                Console.Error.WriteLine(Usage);
                return 1;
            }
        }

        if (servers.Count == 0)
        {
            Console.Error.WriteLine(Usage);
            return 1;
        }

        using Log log = settings.Syslog ? Log.ToSyslog("ntpdate") : Log.ToWriter("ntpdate", Console.Out);
        return new Session(settings, log, Console.Out).Run(servers);
    }

    /// <summary>What the command line asked for.</summary>
    public sealed class Settings
    {
        public bool Debug { get; private set; }

        public bool Query { get; private set; }

        public bool Verbose { get; private set; }

        public bool Syslog { get; private set; }

        public bool UnprivilegedPort { get; private set; }

        public bool AlwaysStep { get; private set; }

        public bool NeverStep { get; private set; }

        public bool IPv4Only { get; private set; }

        public bool IPv6Only { get; private set; }

        public int Samples { get; private set; } = 4;

        public byte Version { get; private set; } = 4;

        public double Timeout { get; private set; } = 1.0;

        /// <summary>-a: the key requests are signed with; -k: the keys file it is read from.</summary>
        public uint? KeyId { get; private set; }

        public string KeyFile { get; private set; } = "/etc/ntp.keys";

        public bool Apply(ParsedOption option, out string? problem)
        {
            problem = null;
            switch (option.Name)
            {
                case "4": IPv4Only = true; IPv6Only = false; break;
                case "6": IPv6Only = true; IPv4Only = false; break;
                case "b": AlwaysStep = true; break;
                case "B": NeverStep = true; break;
                case "d": Debug = true; break;
                case "q": Query = true; break;
                case "s": Syslog = true; break;
                case "u": UnprivilegedPort = true; break;
                case "v": Verbose = true; break;
                case "p":
                    if (!int.TryParse(option.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int samples) || samples is < 1 or > NtpConstants.FilterStages)
                    {
                        problem = $"number of samples ({option.Value}) is invalid, must be 1 through {NtpConstants.FilterStages}";
                        return false;
                    }

                    Samples = samples;
                    break;
                case "o":
                    if (!byte.TryParse(option.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out byte version) || version is < 1 or > 4)
                    {
                        problem = $"version number ({option.Value}) is invalid, must be 1 through 4";
                        return false;
                    }

                    Version = version;
                    break;
                case "t":
                    if (!double.TryParse(option.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double timeout) || !(timeout > 0) || timeout > 60)
                    {
                        problem = $"timeout ({option.Value}) is invalid, must be above 0 and at most 60 seconds";
                        return false;
                    }

                    // ntpdate's timer runs at 5 Hz: the timeout is a whole number of 0.2 s ticks.
                    Timeout = Math.Max(1, Math.Round(timeout * 5)) / 5;
                    break;
                case "e":
                    if (!double.TryParse(option.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double authDelay) || authDelay is < 0 or > 0.5)
                    {
                        problem = $"encryption delay ({option.Value}) is invalid, must be 0 through 0.5 seconds";
                        return false;
                    }

                    break;
                case "a":
                    if (!uint.TryParse(option.Value, NumberStyles.None, CultureInfo.InvariantCulture, out uint keyId) || keyId is 0 or > 65535)
                    {
                        problem = $"key number ({option.Value}) is invalid, must be 1 through 65535";
                        return false;
                    }

                    KeyId = keyId;
                    break;
                case "k":
                    KeyFile = option.Value!;
                    break;
            }

            return true;
        }
    }

    /// <summary>One server being polled, with what it answered.</summary>
    public sealed class Server(IPEndPoint endPoint, double precision)
    {
        public IPEndPoint EndPoint { get; } = endPoint;

        public ClockFilter Filter { get; } = new(precision);

        public int Transmitted { get; set; }

        public NtpResponse? Last { get; set; }

        /// <summary>Why the server cannot be used, or null when it can.</summary>
        public string? Unsuitable { get; set; }

        public NtpHeader Header => Last?.Header ?? default;
    }

    /// <summary>One run of ntpdate against its servers.</summary>
    public sealed class Session(Settings settings, Log log, TextWriter output)
    {
        public int Run(IReadOnlyList<string> names)
        {
            bool simulate = settings.Query || settings.Debug;
            if (settings.Debug || settings.Verbose)
            {
                log.Notice(Version);
            }

            var servers = new List<Server>();
            sbyte precision = LinuxClock.MeasurePrecision();
            foreach (string name in names)
            {
                foreach (IPAddress address in Resolve(name))
                {
                    if (!servers.Exists(s => s.EndPoint.Address.Equals(address)))
                    {
                        servers.Add(new Server(new IPEndPoint(address, 123), Math.Pow(2, precision)));
                    }
                }
            }

            if (servers.Count == 0)
            {
                log.Error("no servers can be used, exiting");
                return 1;
            }

            NtpClient client;
            try
            {
                // ntpdate binds the NTP port unless told otherwise; -q and -d only report, and use any port.
                int port = settings.UnprivilegedPort || simulate ? 0 : 123;
                client = NtpClient.Open(LinuxClock.Instance, servers.Select(s => s.EndPoint.Address), port);
                if (settings.KeyId is uint keyId)
                {
                    try
                    {
                        client.Key = KeysFile.Read(settings.KeyFile, keyId);
                    }
                    catch (KeyException e)
                    {
                        client.Dispose();
                        log.Error($"authentication key {keyId} unknown: {e.Message}");
                        return 1;
                    }
                }
            }
            catch (NtpSocketException e) when (e.AddressInUse)
            {
                log.Error("the NTP socket is in use, exiting");
                return 1;
            }
            catch (NtpSocketException e)
            {
                log.Error($"unable to bind the NTP socket: {e.Message}");
                return 1;
            }

            using (client)
            {
                Poll(client, servers, precision);
            }

            return Adjust(servers, simulate);
        }

        private IEnumerable<IPAddress> Resolve(string name)
        {
            if (settings.Debug)
            {
                output.WriteLine($"Looking for host {name} and service ntp");
            }

            IPAddress[] addresses;
            if (IPAddress.TryParse(name, out IPAddress? literal))
            {
                addresses = [literal];
            }
            else
            {
                try
                {
                    addresses = Dns.GetHostAddresses(name);
                }
                catch (SocketException e)
                {
                    log.Error($"Error resolving {name}: {e.Message} ({e.ErrorCode})");
                    return [];
                }
            }

            IPAddress[] usable = addresses
                .Select(a => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a)
                .Where(a => a.AddressFamily == AddressFamily.InterNetwork ? !settings.IPv6Only : a.AddressFamily == AddressFamily.InterNetworkV6 && !settings.IPv4Only)
                .Distinct()
                .ToArray();
            if (settings.Debug)
            {
                foreach (IPAddress address in usable)
                {
                    output.WriteLine($"host found : {address}");
                }
            }

            if (usable.Length == 0)
            {
                log.Error($"Error resolving {name}: no address of the requested family");
            }

            return usable;
        }

        private void Poll(NtpClient client, List<Server> servers, sbyte precision)
        {
            var start = System.Diagnostics.Stopwatch.StartNew();
            for (int round = 0; round < settings.Samples; round++)
            {
                var waiting = new Dictionary<IPEndPoint, Server>();
                foreach (Server server in servers)
                {
                    // A server that kissed us off (DENY, RSTR, RATE) is not asked again.
                    if (server.Last is { } last && ServerReply.Judge(last.Header) == Unsuitability.KissOfDeath)
                    {
                        continue;
                    }

                    if (settings.Debug)
                    {
                        output.WriteLine($"transmit({server.EndPoint.Address})");
                    }

                    client.SendRequest(server.EndPoint, settings.Version);
                    server.Transmitted++;
                    waiting[server.EndPoint] = server;
                }

                DateTime deadline = DateTime.UtcNow.AddSeconds(settings.Timeout);
                while (waiting.Count > 0)
                {
                    NtpResponse? response = client.Receive(deadline, settings.Debug ? output.WriteLine : null);
                    if (response is null)
                    {
                        break;
                    }

                    if (!waiting.Remove(response.Server, out Server? server))
                    {
                        continue;
                    }

                    if (settings.Debug)
                    {
                        output.WriteLine($"receive({response.Server.Address})");
                    }

                    Accept(server, response, precision, start.Elapsed.TotalSeconds);
                }

                if (settings.Debug)
                {
                    foreach (Server silent in waiting.Values)
                    {
                        output.WriteLine($"timeout({silent.EndPoint.Address})");
                    }
                }
            }
        }

        private void Accept(Server server, NtpResponse response, sbyte precision, double now)
        {
            server.Last = response;
            NtpHeader header = response.Header;
            switch (ServerReply.Judge(header))
            {
                case Unsuitability.KissOfDeath:
                    string code = header.ReferenceId.ToAscii();
                    server.Unsuitable = $"kiss code {code}";
                    log.Notice($"{response.Server.Address}: Kiss-o'-Death {code} ({KissCode.Describe(header.ReferenceId)})");
                    return;
                case Unsuitability.None:
                    server.Unsuitable = null;
                    OnWireSample sample = response.Sample;
                    server.Filter.Add(sample, sample.Dispersion(header.Precision, Math.Pow(2, precision)), now);
                    return;
                default:
                    server.Unsuitable = "Server not synchronized";
                    if (settings.Debug)
                    {
                        output.WriteLine($"{response.Server.Address}: Server not synchronized");
                    }

                    return;
            }
        }

        /// <summary>Chooses among the servers that answered well by the rule ntpdig shares (<see cref="ServerSelection"/>).</summary>
        public static Server? Select(IEnumerable<Server> servers) =>
            ServerSelection.Best(servers.Where(s => s.Unsuitable is null && s.Filter.Count > 0), s => s.Header, s => ServerSelection.Distance(s.Header, s.Filter.Delay, SampleDispersion(s.Filter)));

        /// <summary>
        /// ntpdate's dispersion: the offset differences of the samples taken to the least-delay one, halved in weight
        /// for each step down the delay order. Unlike ntpd's filter it ignores the stages a short run never filled.
        /// </summary>
        public static double SampleDispersion(ClockFilter filter)
        {
            var samples = filter.StagesInArrivalOrder.Where(stage => !stage.IsEmpty).OrderBy(stage => stage.Delay).ToList();
            double dispersion = 0;
            for (int i = 1; i < samples.Count; i++)
            {
                dispersion += Math.Min(Math.Abs(samples[i].Offset - samples[0].Offset), NtpConstants.MaxDispersion) / (1 << i);
            }

            return dispersion;
        }

        private int Adjust(List<Server> servers, bool simulate)
        {
            if (settings.Debug || settings.Query)
            {
                foreach (Server server in servers)
                {
                    output.Write(settings.Debug ? DebugReport(server) : QueryLine(server));
                }
            }

            Server? best = Select(servers);
            if (best is null)
            {
                log.Error("no server suitable for synchronization found");
                return 1;
            }

            double offset = best.Filter.Offset;
            bool step = settings.NeverStep ? false : settings.AlwaysStep || Math.Abs(offset) >= StepThreshold;
            string verb = step ? "step" : "adjust";
            if (!simulate)
            {
                try
                {
                    if (step)
                    {
                        ClockWriter.Step(offset);
                    }
                    else
                    {
                        ClockWriter.Slew(offset);
                    }
                }
                catch (Exception e) when (e is IOException or InvalidOperationException)
                {
                    log.Error($"Can't {verb} the time of day: {e.Message}");
                    return 1;
                }
            }

            log.Notice($"{verb} time server {best.EndPoint.Address} offset {ClassicFormat.Seconds(offset, 6)} sec");
            return 0;
        }

        /// <summary><c>server 192.0.2.1, stratum 3, offset -1.428301, delay 0.03212</c></summary>
        public static string QueryLine(Server server) => string.Create(
            CultureInfo.InvariantCulture,
            $"server {server.EndPoint.Address}, stratum {server.Header.Stratum}, offset {ClassicFormat.Seconds(server.Filter.Count > 0 ? server.Filter.Offset : 0, 6)}, delay {ClassicFormat.Seconds(server.Filter.Count > 0 ? server.Filter.Delay : 0, 5)}\n");

        /// <summary>The block ntpdate -d prints for each server.</summary>
        public static string DebugReport(Server server)
        {
            NtpHeader h = server.Header;
            bool haveSamples = server.Filter.Count > 0;
            double delay = haveSamples ? server.Filter.Delay : 0;
            double dispersion = haveSamples ? SampleDispersion(server.Filter) : NtpConstants.MaxDispersion;
            string refid = h.Stratum <= 1 ? h.ReferenceId.ToAscii() : h.ReferenceId.ToDottedQuad();
            int leap = (int)h.Leap;
            var text = new System.Text.StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"server {server.EndPoint.Address}, port 123\n");
            text.Append(CultureInfo.InvariantCulture, $"stratum {h.Stratum}, precision {h.Precision}, leap {leap >> 1}{leap & 1}, trust 000\n");
            text.Append(CultureInfo.InvariantCulture, $"refid [{refid}], delay {ClassicFormat.Seconds(delay, 5)}, dispersion {ClassicFormat.Seconds(dispersion, 5)}\n");
            text.Append(CultureInfo.InvariantCulture, $"transmitted {server.Transmitted}, in filter {Math.Min(server.Filter.Count, NtpConstants.FilterStages)}\n");
            text.Append(CultureInfo.InvariantCulture, $"reference time:    {ClassicFormat.PrettyDate(h.ReferenceTimestamp)}\n");
            text.Append(CultureInfo.InvariantCulture, $"originate timestamp: {ClassicFormat.PrettyDate(h.OriginTimestamp)}\n");
            text.Append(CultureInfo.InvariantCulture, $"transmit timestamp:  {ClassicFormat.PrettyDate(h.TransmitTimestamp)}\n");
            IReadOnlyList<ClockFilter.Stage> stages = server.Filter.StagesInArrivalOrder;
            text.Append("filter delay: ");
            AppendRow(text, stages, s => s.IsEmpty ? "0.00000" : ClassicFormat.Seconds(s.Delay, 5));
            text.Append("filter offset:");
            AppendRow(text, stages, s => s.IsEmpty ? "0.000000" : ClassicFormat.Seconds(s.Offset, 6));
            text.Append(CultureInfo.InvariantCulture, $"delay {ClassicFormat.Seconds(delay, 5)}, dispersion {ClassicFormat.Seconds(dispersion, 5)}\n");
            text.Append(CultureInfo.InvariantCulture, $"offset {ClassicFormat.Seconds(haveSamples ? server.Filter.Offset : 0, 6)}\n\n");
            return text.ToString();
        }

        private static void AppendRow(System.Text.StringBuilder text, IReadOnlyList<ClockFilter.Stage> stages, Func<ClockFilter.Stage, string> format)
        {
            for (int i = 0; i < stages.Count; i++)
            {
                string cell = format(stages[i]);
                text.Append(' ').Append((cell.Length > 8 ? cell[..8] : cell).PadRight(8));
                if (i == stages.Count / 2 - 1)
                {
                    text.Append("\n        ");
                }
            }

            text.Append('\n');
        }
    }
}
