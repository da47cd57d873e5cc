using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Meridian.Client.CommandLine;
using Meridian.Config;
using Meridian.Daemon;
using Meridian.Host;

namespace Meridian.Tools.Ntpd;

/// <summary>
/// <c>ntpd</c>: reads ntp.conf, opens UDP port 123, polls its sources, disciplines the clock and serves time, with
/// the command line of ntpd 4.2.8 and NTPsec.
/// </summary>
public static class Program
{
    public const string Version = "ntpd Meridian 0.1.0";

    private const string Usage = """
        usage: ntpd [-46dgLnNqx] [-c conffile] [-D level] [-f driftfile] [-i jaildir] [-I address] [-k keyfile]
                    [-l logfile] [-p pidfile] [-s statsdir] [-t trustedkey] [-u user[:group]]
                    [--configtest] [--discipline adaptive|classic] [--port port] [--single-thread] [--version]
          -4, --ipv4           serve on IPv4 only
          -6, --ipv6           serve on IPv6 only
          -c, --configfile F   configuration file (default /etc/ntp.conf)
          -d, --debug-level    more log output (repeatable)
          -D, --set-debug-level N
          -f, --driftfile F    frequency file (overrides driftfile)
          -g, --panicgate      allow the first correction to exceed the panic threshold
          -i, --jaildir D      chroot into D after start-up
          -I, --interface A    listen on address or interface A (repeatable)
          -k, --keyfile F      symmetric keys file (overrides keys)
          -l, --logfile F      log to F (overrides logfile)
          -L, --novirtualips   do not listen on virtual addresses (accepted: none are told apart)
          -n, --nofork         stay in the foreground
          -N, --nice           run at the highest priority
          -p, --pidfile F      write the process ID to F
          -q, --quit           set the clock once and exit
          -s, --statsdir D     statistics directory (overrides statsdir)
          -t, --trustedkey N   trust key N (repeatable)
          -u, --user U[:G]     run as user U (and group G) once the sockets are open
          -x, --slew           step only above 600 s
              --configtest     check the configuration, print its problems, and exit 0 (usable) or 1
              --discipline K   adaptive (default) or classic (ntpd's PLL/FLL)
              --port N         serve on UDP port N instead of 123 (for tests)
              --single-thread  serve client requests on the event loop too: one thread (for simulators)
              --version        print the version and exit
        """;

    public static int Main(string[] args)
    {
        var longOptions = new Dictionary<string, (string, bool)>
        {
            ["ipv4"] = ("4", false),
            ["ipv6"] = ("6", false),
            ["configfile"] = ("c", true),
            ["debug-level"] = ("d", false),
            ["set-debug-level"] = ("D", true),
            ["interface"] = ("I", true),
            ["logfile"] = ("l", true),
            ["nofork"] = ("n", false),
            ["driftfile"] = ("f", true),
            ["panicgate"] = ("g", false),
            ["quit"] = ("q", false),
            ["slew"] = ("x", false),
            ["discipline"] = ("discipline", true),
            ["pidfile"] = ("p", true),
            ["port"] = ("port", true),
            ["jaildir"] = ("i", true),
            ["keyfile"] = ("k", true),
            ["novirtualips"] = ("L", false),
            ["nice"] = ("N", false),
            ["statsdir"] = ("s", true),
            ["trustedkey"] = ("t", true),
            ["user"] = ("u", true),
            ["configtest"] = ("configtest", false),
            ["single-thread"] = ("single-thread", false),
            ["version"] = ("version", false),
            ["help"] = ("help", false),
        };

        if (!new GetOpt("46c:dD:f:gi:I:k:l:LnNp:qs:t:u:x", longOptions).TryParse(args, out var options, out var operands, out string? error) || operands.Count > 0)
        {
            Console.Error.WriteLine($"ntpd: {error ?? $"unexpected argument '{operands[0]}'"}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        string configFile = "/etc/ntp.conf";
        string? logFile = null;
        string? pidFile = null;
        int debug = 0;
        bool nofork = false;
        bool configTest = false;
        bool nice = false;
        string? jail = null;
        string? keyFile = null;
        string? statsDirectory = null;
        string? user = null;
        bool ignoreVirtual = false;
        var trustedKeys = new List<int>();
        var daemonOptions = new DaemonOptions { Version = Version };
        var listen = new List<IPAddress>();
        var interfaces = new List<string>();
        foreach (ParsedOption option in options)
        {
            switch (option.Name)
            {
                case "4": daemonOptions = daemonOptions with { UseIPv4 = true, UseIPv6 = false }; break;
                case "6": daemonOptions = daemonOptions with { UseIPv4 = false, UseIPv6 = true }; break;
                case "c": configFile = option.Value!; break;
                case "d": debug++; break;
                case "D":
                    if (!int.TryParse(option.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out debug))
                    {
                        Console.Error.WriteLine($"ntpd: -D needs a number, not '{option.Value}'");
                        return 2;
                    }

                    break;
                case "I":
                    if (IPAddress.TryParse(option.Value, out IPAddress? address))
                    {
                        listen.Add(address);
                    }
                    else
                    {
                        interfaces.Add(option.Value!);
                    }

                    break;
                case "l": logFile = option.Value; break;
                case "n": nofork = true; break;
                case "f": daemonOptions = daemonOptions with { DriftFile = option.Value }; break;
                case "g": daemonOptions = daemonOptions with { AllowFirstPanic = true }; break;
                case "q": daemonOptions = daemonOptions with { SetOnceAndExit = true }; nofork = true; break;
                case "x": daemonOptions = daemonOptions with { SlewMostly = true }; break;
                case "discipline":
                    if (!Enum.TryParse(option.Value, ignoreCase: true, out Meridian.Engine.DisciplineKind kind))
                    {
                        Console.Error.WriteLine($"ntpd: --discipline is adaptive or classic, not '{option.Value}'");
                        return 2;
                    }

                    daemonOptions = daemonOptions with { Discipline = kind };
                    break;
                case "p": pidFile = option.Value; break;
                case "i": jail = option.Value; break;
                case "k": keyFile = option.Value; break;
                case "L": ignoreVirtual = true; break;
                case "N": nice = true; break;
                case "s": statsDirectory = option.Value; break;
                case "u": user = option.Value; break;
                case "configtest": configTest = true; break;
                case "single-thread": daemonOptions = daemonOptions with { SingleThread = true }; break;
                case "t":
                    if (!int.TryParse(option.Value, NumberStyles.None, CultureInfo.InvariantCulture, out int key) || key is < 1 or > 65535)
                    {
                        Console.Error.WriteLine($"ntpd: -t needs a key ID from 1 to 65535, not '{option.Value}'");
                        return 2;
                    }

                    trustedKeys.Add(key);
                    break;
                case "port":
                    if (!int.TryParse(option.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int port) || port is < 0 or > 65535)
                    {
                        Console.Error.WriteLine($"ntpd: --port needs a port number, not '{option.Value}'");
                        return 2;
                    }

                    daemonOptions = daemonOptions with { Port = port };
                    break;
                case "version":
                    Console.WriteLine(Version);
                    return 0;
                case "help":
                    Console.WriteLine(Usage);
                    return 0;
            }
        }

        daemonOptions = daemonOptions with { ListenAddresses = listen, ListenInterfaces = interfaces };
        NtpConfiguration config = ConfigParser.ParseFile(configFile);
        ApplyCommandLine(config, keyFile, trustedKeys, statsDirectory);
        if (ignoreVirtual)
        {
            config.Diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Warning, "-L", 0, 0, "'-L' is read but not in effect: addresses are not told apart as virtual; each is as the interface rules say") { NotInEffect = true });
        }
        bool detachedChild = ProcessControl.IsDetachedChild;
        if (!detachedChild)
        {
            foreach (ConfigDiagnostic diagnostic in config.Diagnostics)
            {
                Console.Error.WriteLine(diagnostic);
            }
        }

        if (configTest)
        {
            // What the daemon would start with: the translation's own warnings (keys, flags) as well.
            var planWarnings = new List<string>(config.HasErrors ? [] : DaemonPlan.From(config, daemonOptions, null, -20).Warnings);
            if (config.LeapFile is string leapPath)
            {
                // The daemon starts without a usable leap seconds file (the vote decides), so its problems are warnings here.
                var leapProblems = new List<ConfigDiagnostic>();
                LeapSecondsFile? leap = LeapSecondsFile.Read(leapPath, leapProblems);
                planWarnings.AddRange(leapProblems.Select(p => $"leapfile: {p}{(p.Severity == DiagnosticSeverity.Error ? " (the daemon would start without a leap seconds table)" : string.Empty)}"));
                if (leap is not null && LeapSecondsFile.ToUtc(leap.Expires) <= DateTime.UtcNow.AddDays(28))
                {
                    planWarnings.Add($"leapfile {leapPath} {(LeapSecondsFile.ToUtc(leap.Expires) <= DateTime.UtcNow ? "expired" : "expires")} on {LeapSecondsFile.ToUtc(leap.Expires):yyyy-MM-dd}: get a current leap-seconds.list (see docs/leap-seconds.md)");
                }
            }

            foreach (string warning in planWarnings)
            {
                Console.Error.WriteLine($"{configFile}: warning: {warning}");
            }

            int notInEffect = config.NotInEffect.Count();
            Console.WriteLine(config.HasErrors
                ? $"ntpd: {configFile}: {config.Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error)} error(s); ntpd would not start"
                : $"ntpd: {configFile}: configuration OK ({config.Associations.Count + config.Broadcasts.Count} associations, {config.Restrictions.Count} restrict lines, {config.Diagnostics.Count + planWarnings.Count} warning(s), {notInEffect} of them about lines not in effect)");
            return config.HasErrors ? 1 : 0;
        }

        if (config.HasErrors)
        {
            Console.Error.WriteLine($"ntpd: {configFile} has errors; not starting");
            return 1;
        }

        if (!nofork)
        {
            // The configuration is good: detach now, so that its problems were shown on the terminal.
            ProcessControl.StartDetached(args);
            return 0;
        }

        if (detachedChild)
        {
            ProcessControl.CompleteDetach();
        }

        string? logPath = logFile ?? config.LogFile;
        using Log log = logPath is not null ? OpenLogFile(logPath)
            : detachedChild ? Log.ToSyslog("ntpd")
            : Log.ToWriter("ntpd", Console.Error);
        log.Threshold = debug > 0 ? LogLevel.Debug : LogLevel.Info;
        log.Notice($"{Version}: Starting");
        log.Info($"Command line: ntpd {string.Join(' ', args)}");
        if (nice && ProcessControl.RaisePriority() is string niceError)
        {
            log.Warning($"-N: cannot raise the priority ({niceError})");
        }

        // The user is looked up before -i changes the root: a jail seldom has /etc/passwd.
        (uint Uid, uint Gid)? account = null;
        if (user is not null && (account = ProcessControl.LookUpUser(user, out string? lookupError)) is null)
        {
            log.Error($"-u {user}: {lookupError}; exiting");
            return 1;
        }

        using var daemon = new NtpDaemon(config, daemonOptions, log, LinuxClock.Instance, LinuxClock.MeasurePrecision());
        try
        {
            daemon.Start();
        }
        catch (NtpSocketException e)
        {
            log.Error($"no socket could be opened ({e.Message}); exiting");
            return 1;
        }

        // The pid file is written while the daemon is still root and sees the whole file system, as ntpd writes it.
        pidFile ??= config.PidFile;
        if (pidFile is not null)
        {
            try
            {
                AtomicFile.Write(pidFile, $"{Environment.ProcessId}\n");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.Error($"cannot write pid file {pidFile}: {e.Message}; exiting");
                return 1;
            }
        }

        if (jail is not null)
        {
            if (ProcessControl.EnterJail(jail) is string jailError)
            {
                log.Error($"-i {jail}: cannot chroot ({jailError}); exiting");
                return 1;
            }

            log.Info($"chroot to {jail}");
        }

        if (account is { } id)
        {
            if (ProcessControl.DropPrivileges(id, config.ClockControl, out string? warning) is string userError)
            {
                log.Error($"-u {user}: {userError}; exiting");
                return 1;
            }

            if (warning is not null)
            {
                log.Warning($"-u {user}: {warning}");
            }

            log.Info($"running as {user} (uid {id.Uid}, gid {id.Gid})");
        }

        // Signals reach the loop as posted work: SIGTERM and SIGINT stop it, SIGHUP reloads (log, keys, leap seconds file, names).
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; daemon.RequestStop("on signal SIGTERM"); });
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; daemon.RequestStop("on signal SIGINT"); });
        using PosixSignalRegistration hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => { c.Cancel = true; daemon.RequestReload(); });
        int exitCode = daemon.Run();

        daemon.Stop();
        var counters = daemon.Responder.Counters;
        log.Notice($"ntpd exiting {daemon.StopReason ?? "with an error"}: {counters.Received} packets received, {counters.Answered} answered, {counters.TotalDropped} dropped");
        if (pidFile is not null)
        {
            try
            {
                File.Delete(pidFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.Warning($"cannot remove pid file {pidFile}: {e.Message}");
            }
        }

        return exitCode;
    }

    /// <summary>-k, -t and -s override or add to what the configuration says, as in ntpd.</summary>
    private static void ApplyCommandLine(NtpConfiguration config, string? keyFile, List<int> trustedKeys, string? statsDirectory)
    {
        if (keyFile is not null)
        {
            config.KeysFile = Path.GetFullPath(keyFile);
            config.Keys = KeyRing.Read(config.KeysFile, config.Diagnostics);
        }

        foreach (int key in trustedKeys)
        {
            config.TrustedKeys.Add(key);
        }

        if (statsDirectory is not null)
        {
            config.StatsDirectory = statsDirectory;
        }
    }

    private static Log OpenLogFile(string path)
    {
        try
        {
            return Log.ToFile("ntpd", path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"ntpd: cannot open log file {path}: {e.Message}; logging to standard error");
            return Log.ToWriter("ntpd", Console.Error);
        }
    }
}
