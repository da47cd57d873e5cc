using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Host;
using Meridian.Host.Nts;
using Meridian.Client;
using Meridian.Client.CommandLine;
using Meridian.Protocol;

namespace Meridian.Tools.Ntpdig;

/// <summary>
/// <c>ntpdig</c>, the SNTP client (RFC 4330) with NTPsec's flags and output: one line per run with the server's
/// time, the offset and its error bound, or JSON with <c>-j</c>. <c>-N</c>/<c>--nts</c> (ours: NTPsec's ntpdig has
/// no NTS) runs NTS-KE first and takes only a reply NTS authenticates.
/// </summary>
public static class Program
{
    public const string Version = "ntpdig Meridian 0.1.0";

    private const string Usage = """
        USAGE:  ntpdig [-<flag> [<val>] | --<name>[{=| }<val>]]...
                        [ hostname-or-IP ...]
          Flg Arg Option-Name     Description
           -4 no  ipv4           Force IPv4 DNS name resolution
           -6 no  ipv6           Force IPv6 DNS name resolution
           -a Num authentication  Enable authentication with the numbered key
           -c yes concurrent      Hosts to be queried concurrently
           -d no  debug           Increase debug verbosity
           -D yes set-debug-level Set debug verbosity
           -g yes gap             Set gap between requests in milliseconds
           -j no  json            Use JSON output format
           -l Str logfile         Log to specified logfile
           -M yes steplimit       Adjustments above this many milliseconds are steps
           -p yes samples         Number of samples to take (default 1)
           -S no  step            Set (step) the time with clock_settime()
           -s no  slew            Set (slew) the time with adjtime()
           -t Num timeout         Request timeout in seconds (default 5)
           -k Str keyfile         Specify a keyfile
           -N no  nts             Use NTS (RFC 8915): NTS-KE, then only authenticated replies
              Str ca              CA certificates (PEM) for --nts (default: the system's)
           -V no version          Output version information and exit
           -h no  help            Display extended usage information and exit
        """;

    public static int Main(string[] args)
    {
        var longOptions = new Dictionary<string, (string, bool)>
        {
            ["ipv4"] = ("4", false), ["ipv6"] = ("6", false), ["authentication"] = ("a", true),
            ["concurrent"] = ("c", true), ["debug"] = ("d", false), ["set-debug-level"] = ("D", true),
            ["gap"] = ("g", true), ["help"] = ("h", false), ["json"] = ("j", false), ["keyfile"] = ("k", true),
            ["logfile"] = ("l", true), ["steplimit"] = ("M", true), ["samples"] = ("p", true), ["step"] = ("S", false),
            ["slew"] = ("s", false), ["timeout"] = ("t", true), ["version"] = ("V", false),
            ["nts"] = ("N", false), ["ca"] = ("ca", true),
        };

        if (!new GetOpt("46a:c:dD:g:hjk:l:M:Np:Sst:V", longOptions).TryParse(args, out var options, out var hosts, out string? error))
        {
            Console.WriteLine(error);
            return 1;
        }

        TextWriter log = Console.Error;
        var run = new Run();
        foreach (ParsedOption option in options)
        {
            switch (option.Name)
            {
                case "4": run.Family = AddressFamily.InterNetwork; break;
                case "6": run.Family = AddressFamily.InterNetworkV6; break;
                case "c": run.Concurrent.Add(option.Value!); break;
                case "d": run.Debug++; break;
                case "j": run.Json = true; break;
                case "N": run.Nts = true; break;
                case "ca": run.CaFile = option.Value!; break;
                case "S": run.Step = true; break;
                case "s": run.Slew = true; break;
                case "h":
                    Console.WriteLine(Usage);
                    return 0;
                case "V":
                    Console.WriteLine(Version);
                    return 0;
                case "a":
                    if (!uint.TryParse(option.Value, NumberStyles.None, CultureInfo.InvariantCulture, out uint keyId) || keyId is 0 or > 65535)
                    {
                        Console.Error.Write($"Error: -a parameter '{option.Value}' not a key number\n");
                        return 1;
                    }

                    run.KeyId = keyId;
                    break;
                case "k":
                    run.KeyFile = option.Value!;
                    break;
                case "l":
                    try
                    {
                        log = new StreamWriter(option.Value!, append: false) { AutoFlush = true };
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        Console.Error.WriteLine($"logfile open of {option.Value} failed.");
                        return 1;
                    }

                    break;
                default:
                    if (!Number(option, out double value))
                    {
                        Console.Error.Write($"Error: -{option.Name} parameter '{option.Value}' not a number\n");
                        Console.Error.WriteLine(Usage);
                        return 1;
                    }

                    switch (option.Name)
                    {
                        case "D": run.Debug = (int)value; break;
                        case "g": run.Gap = value / 1000; break;
                        case "M": run.StepLimit = value / 1000; break;
                        case "p": run.Samples = Math.Max(1, (int)value); break;
                        case "t": run.Timeout = value; break;
                    }

                    break;
            }
        }

        run.Log = message => log.Write($"ntpdig: {message}\n");
        if (run.Nts && run.KeyId is not null)
        {
            Console.Error.WriteLine("ntpdig: --nts and -a cannot be used together: NTS is the authentication");
            return 1;
        }

        if (run.CaFile is not null && !run.Nts)
        {
            Console.Error.WriteLine("ntpdig: --ca is for --nts");
            return 1;
        }

        if (hosts.Count == 0 && run.Concurrent.Count == 0)
        {
            hosts.Add("localhost");
        }

        return run.Execute(hosts, Console.Out);
    }

    private static bool Number(ParsedOption option, out double value) =>
        double.TryParse(option.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);

    /// <summary>One reply with the name it was asked under.</summary>
    public sealed record Answer(string Host, NtpResponse Response)
    {
        public double Offset => Response.Sample.Offset.ToSeconds();

        public double Delay => Response.Sample.Delay.ToSeconds();

        /// <summary>
        /// The error bound printed after "+/-": half the round trip plus the dispersion gathered over it and the
        /// server's precision (NTPsec's "synchronization distance" of one packet).
        /// </summary>
        public double ErrorBound => Math.Abs(Delay / 2 + Dispersion);

        /// <summary>The sample's dispersion: the server's precision and what the clocks may drift during the exchange.</summary>
        public double Dispersion => NtpConstants.Phi * (Response.T4 - Response.T1).ToSeconds() + Math.Pow(2, Response.Header.Precision);

        /// <summary>The synchronization distance by which ntpdate and ntpdig both choose.</summary>
        public double Distance => ServerSelection.Distance(Response.Header, Delay, Dispersion);
    }

    /// <summary>The settings and the work of one invocation.</summary>
    public sealed class Run
    {
        public AddressFamily Family { get; set; } = AddressFamily.Unspecified;

        public List<string> Concurrent { get; } = new();

        public int Debug { get; set; }

        public bool Json { get; set; }

        public bool Step { get; set; }

        public bool Slew { get; set; }

        public double Gap { get; set; } = 0.05;

        public double StepLimit { get; set; }

        public int Samples { get; set; } = 1;

        public double Timeout { get; set; } = 5;

        /// <summary>-a: the key requests are signed with; -k: the keys file it is read from.</summary>
        public uint? KeyId { get; set; }

        public string KeyFile { get; set; } = "/etc/ntp.keys";

        /// <summary>-N/--nts: NTS-KE with each host, then one NTS-authenticated exchange; --ca: the CAs its certificate must chain to.</summary>
        public bool Nts { get; set; }

        public string? CaFile { get; set; }

        private SymmetricKey? key;

        public Action<string> Log { get; set; } = _ => { };

        public int Execute(IReadOnlyList<string> hosts, TextWriter output)
        {
            if (KeyId is uint keyId)
            {
                try
                {
                    key = KeysFile.Read(KeyFile, keyId);
                }
                catch (KeyException e)
                {
                    Log($"authentication key {keyId}: {e.Message}");
                    return 1;
                }
            }

            var answers = new List<Answer>();
            for (int sample = 0; sample < Samples; sample++)
            {
                if (sample > 0 && Gap > 0)
                {
                    Thread.Sleep(TimeSpan.FromSeconds(Gap));
                }

                foreach (string host in Concurrent.Concat(hosts))
                {
                    answers.AddRange(Query(host));
                }
            }

            Answer? best = Select(answers);
            if (best is null)
            {
                Log("no eligible servers");
                return 1;
            }

            if (Debug > 0)
            {
                output.WriteLine($"org t1: {best.Response.T1} rec t2: {best.Response.T2}");
                output.WriteLine($"xmt t3: {best.Response.T3} dst t4: {best.Response.T4}");
            }

            double offset = best.Offset;
            bool stepped = Step && (!Slew || Math.Abs(offset) > StepLimit);
            output.Write(Report(best, Json, stepped));
            try
            {
                if (stepped)
                {
                    ClockWriter.Step(offset);
                }
                else if (Slew)
                {
                    ClockWriter.Slew(offset);
                }
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                Log(e.Message);
                return 1;
            }

            return 0;
        }

        private IEnumerable<Answer> Query(string host)
        {
            IPAddress[] addresses;
            try
            {
                addresses = IPAddress.TryParse(host, out IPAddress? literal)
                    ? [literal]
                    : Dns.GetHostAddresses(host, Family == AddressFamily.Unspecified ? AddressFamily.Unspecified : Family);
            }
            catch (SocketException e)
            {
                Log($"lookup of {host} failed, errno {e.ErrorCode} = {e.Message}");
                return [];
            }

            var answers = new List<Answer>();
            bool first = true;
            foreach (IPAddress raw in addresses)
            {
                IPAddress address = raw.IsIPv4MappedToIPv6 ? raw.MapToIPv4() : raw;
                if (Family != AddressFamily.Unspecified && address.AddressFamily != Family)
                {
                    continue;
                }

                if (!first && Gap > 0)
                {
                    Thread.Sleep(TimeSpan.FromSeconds(Gap));
                }

                first = false;
                if (Debug > 0)
                {
                    Log($"querying {address} ({host})");
                }

                if (Nts)
                {
                    // One NTS-KE host stands for its name: its certificate is checked for that name, whatever address.
                    if (QueryNts(host, address) is Answer answer)
                    {
                        answers.Add(answer);
                    }

                    break;
                }

                var endPoint = new IPEndPoint(address, 123);
                using NtpClient client = NtpClient.Open(LinuxClock.Instance, [address], 0);
                client.Key = key;
                client.SendRequest(endPoint, 4);
                NtpResponse? response = client.Receive(DateTime.UtcNow.AddSeconds(Timeout), Debug > 1 ? Log : null);
                if (response is not null)
                {
                    answers.Add(new Answer(host, response));
                }
            }

            return answers;
        }

        /// <summary>
        /// NTS (RFC 8915): NTS-KE with <paramref name="host"/> at <paramref name="address"/> (TLS 1.3, port 4460, its
        /// certificate checked for <paramref name="host"/>), then one request carrying a cookie to the NTP server it
        /// names (this address by default). Only a reply with our Unique Identifier and a valid authenticator counts;
        /// every failure is logged with its reason.
        /// </summary>
        private Answer? QueryNts(string host, IPAddress address)
        {
            var options = new NtsKeClientOptions { CaFile = CaFile, Timeout = TimeSpan.FromSeconds(Timeout) };
            NtsKeyExchangeResult exchange;
            try
            {
                exchange = NtsKeyExchange.Run(host, address, options, [.. NtsAead.Supported]);
            }
            catch (Exception e) when (NtsKeyExchange.Reason(e) is string reason)
            {
                Log($"NTS-KE with {host} failed ({reason})");
                return null;
            }

            using NtsClientState state = exchange.State;
            IPEndPoint server = exchange.NtpServer ?? new IPEndPoint(address, NtsClientState.DefaultNtpPort);
            Log($"NTS-KE with {host}: {exchange.Summary}");
            using NtpClient client = NtpClient.Open(LinuxClock.Instance, [server.Address], 0);
            client.Nts = state;
            client.SendRequest(server, 4);
            NtpResponse? response = client.Receive(DateTime.UtcNow.AddSeconds(Timeout), Debug > 1 ? Log : null);
            if (response is null)
            {
                Log($"{host}: no NTS-authenticated reply from {server}{(client.NtsRefusal is string why ? $" ({why})" : " (timed out)")}");
                return null;
            }

            Log($"{host}: reply from {server} authenticated by NTS (AEAD {state.AeadId})");
            return new Answer(host, response);
        }

        /// <summary>Drops unusable replies with NTPsec's reasons, then takes the lowest stratum and error bound.</summary>
        public Answer? Select(List<Answer> answers)
        {
            var usable = new List<Answer>();
            foreach (Answer answer in answers)
            {
                NtpHeader h = answer.Response.Header;
                // The judgment is the engine's; the words are NTPsec's.
                string? reason = ServerReply.Judge(h) switch
                {
                    Unsuitability.None => null,
                    Unsuitability.StratumTooHigh => "stratum too high",
                    _ when h.Stratum == 0 => "stratum 0, probable KOD packet",
                    Unsuitability.Unsynchronized => "leap not in sync",
                    _ => "unexpected response timestamp",
                };
                if (reason is not null)
                {
                    Log($"{answer.Host}: Response dropped: {reason}");
                    continue;
                }

                usable.Add(answer);
            }

            return ServerSelection.Best(usable, a => a.Response.Header, a => a.Distance);
        }

        /// <summary>
        /// <c>2026-11-22 10:05:24.534916 (+0000) -0.000007 +/- 0.084075 localhost 127.0.0.1 s2 no-leap</c>, or the
        /// JSON object of <c>-j</c>. The time is the server's transmit timestamp in local time.
        /// </summary>
        public static string Report(Answer answer, bool json, bool adjusted)
        {
            NtpHeader h = answer.Response.Header;
            DateTime utc = h.TransmitTimestamp.ToDateTime();
            DateTime local = utc.ToLocalTime();
            TimeSpan zone = TimeZoneInfo.Local.GetUtcOffset(utc);
            string tz = string.Create(CultureInfo.InvariantCulture, $"{(zone < TimeSpan.Zero ? '-' : '+')}{Math.Abs(zone.Hours):00}{Math.Abs(zone.Minutes):00}");
            long micros = (local.Ticks / 10) % 1_000_000;
            string date = local.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            string time = local.ToString("HH:mm:ss", CultureInfo.InvariantCulture) + "." + micros.ToString("000000", CultureInfo.InvariantCulture);
            string leap = h.Leap switch
            {
                LeapIndicator.NoWarning => "no-leap",
                LeapIndicator.AddSecond => "add-leap",
                LeapIndicator.DeleteSecond => "del-leap",
                _ => "unsync",
            };
            string ip = answer.Response.Server.Address.ToString();
            if (json)
            {
                return string.Create(
                    CultureInfo.InvariantCulture,
                    $"{{\"time\":\"{date}T{time}{tz}\",\"offset\":{answer.Offset:F6},\"precision\":{answer.ErrorBound:F6},\"host\":\"{JsonEscape(answer.Host)}\",\"ip\":\"{ip}\",\"stratum\":{h.Stratum},\"leap\":\"{leap}\",\"adjusted\":{(adjusted ? "true" : "false")}}}\n");
            }

            string sign = answer.Offset < 0 ? "-" : "+";
            string line = string.Create(CultureInfo.InvariantCulture, $"{date} {time} ({tz}) {sign}{Math.Abs(answer.Offset):F6} +/- {answer.ErrorBound:F6} {answer.Host}");
            if (ip != answer.Host)
            {
                line += " " + ip;
            }

            return line + $" s{h.Stratum} {leap}\n";
        }

        private static string JsonEscape(string text) => text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
    }
}
