using System.Net;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Engine.Refclocks;
using Meridian.Protocol;

namespace Meridian.Daemon;

/// <summary>One association the configuration asks for: its settings now, or a name to resolve first.</summary>
public sealed record PlannedAssociation(AssociationConfig Config, AssociationSettings? Settings)
{
    /// <summary>A host name that must be resolved before the association exists (not a pool: the engine asks for those).</summary>
    public bool NeedsName => Settings is null && Config.Kind != AssociationKind.Pool && Config.Refclock is null;
}

/// <summary>
/// What the daemon starts with, translated from ntp.conf and the command line by one pure function,
/// <see cref="From"/>: the engine's settings (discipline limits, selection, access list, keys, flags, rate limits),
/// the associations, the -q step threshold, and the problems worth a log line. Nothing here opens a file, a socket
/// or a resolver, so every rule of the translation is tested without root.
/// </summary>
public sealed record DaemonPlan
{
    public required EngineSettings Engine { get; init; }

    public required IReadOnlyList<PlannedAssociation> Associations { get; init; }

    /// <summary>The step threshold in effect (<c>tinker step</c>, else 0.128 s, or 600 s with <c>-x</c>); <c>-q</c> uses it too.</summary>
    public required double StepThreshold { get; init; }

    /// <summary>What is worth a warning at start beyond the configuration's own diagnostics.</summary>
    public required IReadOnlyList<string> Warnings { get; init; }

    /// <summary>The drift file (<c>-f</c>, else <c>driftfile</c>), if any.</summary>
    public string? DriftFile { get; init; }

    /// <param name="config">ntp.conf as read (with -k, -t and -s applied).</param>
    /// <param name="options">The command line.</param>
    /// <param name="driftPpm">The frequency read from the drift file, if there was one.</param>
    /// <param name="measuredPrecision">The clock's precision as measured at start (log2 s).</param>
    public static DaemonPlan From(NtpConfiguration config, DaemonOptions options, double? driftPpm, sbyte measuredPrecision)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        var warnings = new List<string>();
        sbyte precision = (sbyte)(config.Precision ?? measuredPrecision);
        double step = config.Tinker.StepThreshold(options.SlewMostly);
        List<SymmetricKey> trusted = TrustedKeysOf(config.Keys, config.TrustedKeys);
        var limits = new DisciplineSettings
        {
            AllowFirstPanic = options.AllowFirstPanic,
            StepThreshold = step,
            Stepout = config.Tinker.StepOut,
            PanicThreshold = config.Tinker.Panic,
            SlewAlways = config.SlewAlways,
            // The drift file first; tinker freq when there is none (ntpd's rule).
            InitialFrequency = (driftPpm ?? config.Tinker.Frequency) * 1e-6,
        };
        var engine = new EngineSettings
        {
            Discipline = options.Discipline,
            Limits = limits,
            Selection = new SelectionSettings
            {
                MinClock = config.Tos.MinClock,
                MaxClock = config.Tos.MaxClock,
                MinSane = config.Tos.MinSane,
                Orphan = config.Tos.Orphan,
                OrphanWait = config.Tos.OrphanWait,
            },
            Precision = precision,
            KernelDiscipline = config.SystemFlags.Kernel,
            // broadcastclient and multicastclient set bclient, as in ntpd.
            Flags = FlagsOf(config.SystemFlags) | (config.BroadcastClient || config.MulticastClientGroups.Count > 0 ? SystemFlags.BroadcastClient : 0),
            BroadcastVolley = config.BroadcastVolley,
            ManycastServer = config.ManycastServerGroups.Count > 0,
            ControlKey = ControlKeyOf(config.ControlKey, config.Keys, config.TrustedKeys, out string? controlKeyProblem),
            Access = AccessList.Build(config.Restrictions, new Dictionary<string, IPAddress[]>()),
            Discard = DiscardOf(config.Discard, config.Mru),
            StoredKeys = config.Keys.Count,
            TrustedKeys = trusted,
            BroadcastDelay = config.BroadcastDelay,
            UserVariables = config.SetVar.Select(v => new UserVariable(v.Key, v.Value, config.SetVarDefault.Contains(v.Key))).ToList(),
            QueueCapacity = NtpDaemon.MaxPendingPackets,
            LeapSmearInterval = config.LeapSmearInterval ?? 0,
        };
        if (controlKeyProblem is not null)
        {
            warnings.Add(controlKeyProblem);
        }

        if (!config.SystemFlags.Kernel && options.Discipline == DisciplineKind.Adaptive)
        {
            warnings.Add("disable kernel: the adaptive discipline never uses the kernel PLL; the flag changes only --discipline classic (ntpd's daemon loop instead of the kernel PLL)");
        }

        if (config.LeapSmearInterval > 0 && config.LeapFile is null)
        {
            warnings.Add("leapsmearinterval without a leapfile: only the leap seconds of a leap seconds file are smeared, so nothing will be");
        }

        foreach (int id in config.TrustedKeys.Where(id => id > 0 && config.Keys[(uint)id] is null))
        {
            warnings.Add($"trustedkey {id} is not in the keys file{(config.KeysFile is { } file ? " " + file : string.Empty)}: it authenticates nothing");
        }

        var associations = new List<PlannedAssociation>();
        foreach (AssociationConfig association in config.Associations)
        {
            if (config.Unpeer.Contains(association.Address))
            {
                warnings.Add($"{association.Address}: removed by unpeer");
                continue;
            }

            associations.Add(Plan(association, config.Fudges));
        }

        foreach (BroadcastConfig line in config.Broadcasts)
        {
            associations.Add(new PlannedAssociation(
                new AssociationConfig(AssociationKind.Server, line.Address, line.Line) { Key = line.Key is int key ? (uint)key : null, MinPoll = line.MinPoll, MaxPoll = line.MaxPoll, Version = line.Version },
                BroadcastSettings(line)));
        }

        return new DaemonPlan
        {
            Engine = engine,
            Associations = associations,
            StepThreshold = step,
            Warnings = warnings,
            DriftFile = DriftPath(config, options),
        };
    }

    /// <summary>The drift file: <c>-f</c>, else <c>driftfile</c>.</summary>
    public static string? DriftPath(NtpConfiguration config, DaemonOptions options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        return options.DriftFile ?? config.DriftFile;
    }

    /// <summary>An association line as settings now (a literal address, a reference clock) or as a name to resolve.</summary>
    public static PlannedAssociation Plan(AssociationConfig association, IReadOnlyDictionary<RefclockAddress, FudgeConfig> fudges)
    {
        ArgumentNullException.ThrowIfNull(association);
        ArgumentNullException.ThrowIfNull(fudges);
        if (association.Refclock is { } clock)
        {
            FudgeConfig? fudge = fudges.GetValueOrDefault(clock);
            if (clock.Type != LocalClockDriver.Type)
            {
                // Read and warned about by the parser when there is no driver of this type.
                return new PlannedAssociation(association, RefclockDriver.Supports(clock.Type) ? Driver(association, clock, fudge) : null);
            }

            return new PlannedAssociation(association, new AssociationSettings(new IPEndPoint(IPAddress.Parse(clock.ToString()), 123))
            {
                Mode = AssociationMode.Refclock,
                RefclockType = clock.Type,
                RefclockStratum = fudge?.Stratum ?? LocalClockDriver.DefaultStratum,
                RefclockId = fudge?.RefId is { } refid ? ReferenceId.FromAscii(refid) : LocalClockDriver.DefaultReferenceId,
                RefclockTime1 = fudge?.Time1,
                RefclockTime2 = fudge?.Time2,
                RefclockFlags = fudge is null ? 0 : fudge.Flags.Where(f => f.Value).Sum(f => 1 << (f.Key - 1)),
                NoSelect = association.NoSelect,
                Prefer = association.Prefer,
                Name = $"LOCAL({clock.Unit})",
            });
        }

        if (association.Kind == AssociationKind.Pool)
        {
            return new PlannedAssociation(association, Settings(association, IPAddress.Any));
        }

        return IPAddress.TryParse(association.Address, out IPAddress? literal)
            ? new PlannedAssociation(association, Settings(association, literal))
            : new PlannedAssociation(association, null);
    }

    /// <summary>A reference clock with a device: its driver's settings from the server line, fudge and device lines.</summary>
    private static AssociationSettings Driver(AssociationConfig association, RefclockAddress clock, FudgeConfig? fudge)
    {
        var refclock = new RefclockSettings(clock.Type, clock.Unit)
        {
            Mode = association.Mode,
            Time1 = fudge?.Time1 ?? 0,
            Time2 = fudge?.Time2 ?? 0,
            Flags = Flags(fudge),
            Path = fudge?.Path,
            PpsPath = fudge?.PpsPath,
            Baud = fudge?.Baud,
        };
        RefclockDriver prototype = RefclockDriver.Create(refclock);
        return new AssociationSettings(new IPEndPoint(IPAddress.Parse(clock.ToString()), 123))
        {
            Mode = AssociationMode.Refclock,
            RefclockType = clock.Type,
            RefclockStratum = fudge?.Stratum ?? 0,
            RefclockId = ReferenceId.FromAscii(fudge?.RefId ?? prototype.DefaultReferenceId),
            RefclockTime1 = fudge?.Time1,
            RefclockTime2 = fudge?.Time2,
            RefclockFlags = refclock.Flags,
            NoSelect = association.NoSelect,
            Prefer = association.Prefer,
            Iburst = association.Iburst,
            MinPoll = association.MinPoll,
            MaxPoll = association.MinPoll,
            Name = prototype.Name,
            Refclock = refclock,
        };
    }

    private static int Flags(FudgeConfig? fudge) => fudge is null ? 0 : fudge.Flags.Where(f => f.Value).Sum(f => 1 << (f.Key - 1));


    /// <summary>
    /// A <c>broadcast</c> line (mode 5 to the address every 2^minpoll s) or a <c>manycastclient</c> line (mode 3 to
    /// the group; the servers that answer get client associations with the line's options).
    /// </summary>
    public static AssociationSettings BroadcastSettings(BroadcastConfig line)
    {
        ArgumentNullException.ThrowIfNull(line);
        return new AssociationSettings(new IPEndPoint(IPAddress.Parse(line.Address), 123))
        {
            Mode = line.ManycastClient ? AssociationMode.ManycastClient : AssociationMode.Broadcast,
            MinPoll = line.MinPoll,
            MaxPoll = Math.Max(line.MinPoll, line.MaxPoll),
            Version = (byte)line.Version,
            Key = line.Key is int key ? (uint)key : null,
            Ttl = line.Ttl,
            Iburst = line.Iburst,
            Burst = line.Burst,
            Prefer = line.Prefer,
            NoSelect = line.NoSelect,
            True = line.True,
        };
    }

    /// <summary>A server, pool or peer line's settings for one of its addresses.</summary>
    public static AssociationSettings Settings(AssociationConfig association, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(association);
        return new(new IPEndPoint(address, 123))
        {
            Mode = association.Kind == AssociationKind.Peer ? AssociationMode.SymmetricActive : AssociationMode.Client,
            MinPoll = association.MinPoll,
            MaxPoll = association.MaxPoll,
            Iburst = association.Iburst,
            Burst = association.Burst,
            Prefer = association.Prefer,
            NoSelect = association.NoSelect,
            True = association.True,
            Version = (byte)association.Version,
            Name = IPAddress.TryParse(association.Address, out _) ? null : association.Address,
            Key = association.Key,
            Nts = association.Nts,
            NtsNoValidation = association.Nts && association.NoVal,
            NtsKePort = association.NtsKePort ?? Meridian.Protocol.Nts.NtsKe.Port,
            NtsCa = association.NtsCa,
            NtsAead = association.NtsAead,
        };
    }

    /// <summary>The keys of the keys file that <c>trustedkey</c> names (a trusted ID without a key is ignored, as in ntpd).</summary>
    public static List<SymmetricKey> TrustedKeysOf(KeyRing keys, IEnumerable<int> trusted)
    {
        ArgumentNullException.ThrowIfNull(keys);
        return trusted.Where(id => id > 0).Select(id => keys[(uint)id]).OfType<SymmetricKey>().ToList();
    }

    /// <summary>The <c>controlkey</c>, if it names a key of the keys file that is also trusted (as ntpd requires).</summary>
    public static SymmetricKey? ControlKeyOf(int? id, KeyRing keys, IReadOnlySet<int> trusted, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(trusted);
        problem = null;
        if (id is not int controlKey)
        {
            return null;
        }

        if (keys[(uint)controlKey] is not SymmetricKey key)
        {
            problem = $"controlkey {controlKey} is not in the keys file: remote configuration stays off";
            return null;
        }

        if (!trusted.Contains(controlKey))
        {
            problem = $"controlkey {controlKey} is not a trustedkey: remote configuration stays off";
            return null;
        }

        return key;
    }

    /// <summary><c>discard</c> and <c>mru</c> as the engine's rate limits and MRU bounds (<c>maxmem</c> in KiB bounds the depth too).</summary>
    public static DiscardSettings DiscardOf(DiscardOptions discard, MruOptions mru)
    {
        ArgumentNullException.ThrowIfNull(discard);
        ArgumentNullException.ThrowIfNull(mru);
        int depth = mru.MaxDepth;
        if (mru.MaxMemory is double kib)
        {
            depth = Math.Min(depth, (int)Math.Max(1, kib * 1024 / MruList.EntrySize));
        }

        return new DiscardSettings
        {
            Average = discard.Average,
            Minimum = discard.Minimum,
            MaxDepth = depth,
            MinDepth = mru.MinDepth,
            MaxAge = mru.MaxAge,
        };
    }

    /// <summary>The system flags as the engine holds them.</summary>
    public static SystemFlags FlagsOf(SystemFlagOptions f)
    {
        ArgumentNullException.ThrowIfNull(f);
        return (f.Auth ? SystemFlags.Auth : 0) | (f.BroadcastClient ? SystemFlags.BroadcastClient : 0) | (f.Calibrate ? SystemFlags.Calibrate : 0)
            | (f.Kernel ? SystemFlags.Kernel : 0) | (f.Monitor ? SystemFlags.Monitor : 0) | (f.Ntp ? SystemFlags.Ntp : 0)
            | (f.Stats ? SystemFlags.Stats : 0) | (f.Pps ? SystemFlags.Pps : 0) | (f.Mode7 ? SystemFlags.Mode7 : 0);
    }
}
