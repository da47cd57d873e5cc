namespace Meridian.Engine;

/// <summary>The <c>tos</c> limits of the mitigation algorithms.</summary>
public sealed record SelectionSettings
{
    /// <summary>Fewest survivors for the system to synchronize (<c>tos minsane</c>).</summary>
    public int MinSane { get; init; } = 1;

    /// <summary>The cluster algorithm stops pruning at this many survivors (<c>tos minclock</c>).</summary>
    public int MinClock { get; init; } = 3;

    /// <summary>At most this many candidates enter the cluster algorithm (<c>tos maxclock</c>).</summary>
    public int MaxClock { get; init; } = 10;

    /// <summary>Orphan mode's stratum (<c>tos orphan</c>); 16 leaves orphan mode off.</summary>
    public int Orphan { get; init; } = 16;

    /// <summary>
    /// Seconds without a source before the host becomes an orphan parent (<c>tos orphanwait</c>), and the hold-down
    /// during which a host that lost its system peer accepts only sources nearer the root than it was.
    /// </summary>
    public double OrphanWait { get; init; } = 300;

    public bool OrphanMode => Orphan < 16;
}

/// <summary>What the mitigation chose.</summary>
public sealed record SelectionResult(Association? SystemPeer, IReadOnlyList<Association> Survivors, double Offset, double Jitter)
{
    public static SelectionResult None { get; } = new(null, [], 0, 0);
}

/// <summary>
/// RFC 5905 §11.2: the selection (intersection) algorithm finds the largest group of sources whose correctness
/// intervals agree, the cluster algorithm prunes the survivors with the most selection jitter, and the combine
/// algorithm averages the survivors weighted by the inverse of their root distance. The local clock driver takes
/// part only when no other source survives (as in ntpd), so it is a fallback, never a competitor.
/// </summary>
public static class SelectionAlgorithm
{
    /// <summary>
    /// Runs the mitigation; <paramref name="eligible"/> is the system's own test of which survivors may become the
    /// system peer (loop avoidance, orphan parents), null to allow all.
    /// </summary>
    public static SelectionResult Run(IReadOnlyList<Association> associations, Association? current, double now, int systemPoll, SelectionSettings settings, Func<Association, bool>? eligible = null, double systemOffset = 0)
    {
        SelectionResult result = RunWithoutPps(associations, current, now, systemPoll, settings, eligible, out Association? pps);
        if (pps is null)
        {
            return result;
        }

        // ntpd's PPS rule: a PPS peer that survived the intersection takes over from the choice when the clock is
        // already within 0.4 s (the pulse cannot number seconds), and a bare PPS signal only while a prefer peer
        // numbers them (or, with tos minsane 0, when there is nothing else).
        bool numbered = !pps.IsAtom || result.SystemPeer is { Settings.Prefer: true } || (result.SystemPeer is null && settings.MinSane == 0);
        if (Math.Abs(systemOffset) >= 0.4 || !numbered)
        {
            return result;
        }

        if (result.SystemPeer is { } chosen && chosen.Tally == TallyCode.SystemPeer)
        {
            chosen.Tally = TallyCode.Candidate;
        }

        pps.Tally = TallyCode.PpsPeer;
        return new SelectionResult(pps, [.. result.Survivors, pps], pps.Filter.Offset, pps.Filter.Jitter);
    }

    private static SelectionResult RunWithoutPps(IReadOnlyList<Association> associations, Association? current, double now, int systemPoll, SelectionSettings settings, Func<Association, bool>? eligible, out Association? pps)
    {
        pps = null;
        var candidates = new List<Association>();
        var localClocks = new List<Association>();
        foreach (Association a in associations)
        {
            a.Tally = TallyCode.Reject;
            if (a.Unfit(now, systemPoll) is not null)
            {
                continue;
            }

            (a.IsLocalClock ? localClocks : candidates).Add(a);
        }

        List<Association> truechimers = Intersect(candidates, now);
        foreach (Association a in candidates)
        {
            if (!truechimers.Contains(a))
            {
                a.Tally = TallyCode.Falseticker;
            }
        }

        // A PPS peer takes part in the intersection (it can be a falseticker) but not in clustering or combining:
        // its offset is either the answer or not used at all.
        pps = truechimers.FirstOrDefault(a => a.IsPps);
        truechimers.RemoveAll(a => a.IsPps);

        if (truechimers.Count == 0)
        {
            return FallBackToLocalClock(localClocks, current);
        }

        // Order of preference: stratum first, then root distance.
        truechimers.Sort((x, y) => Metric(x, now).CompareTo(Metric(y, now)));
        for (int i = settings.MaxClock; i < truechimers.Count; i++)
        {
            truechimers[i].Tally = TallyCode.Excess;
        }

        var survivors = truechimers.Take(settings.MaxClock).ToList();
        Cluster(survivors, settings.MinClock);
        foreach (Association a in localClocks)
        {
            a.Tally = TallyCode.Backup;
        }

        if (survivors.Count < settings.MinSane)
        {
            foreach (Association a in survivors)
            {
                a.Tally = TallyCode.Candidate;
            }

            return SelectionResult.None;
        }

        foreach (Association a in survivors)
        {
            a.Tally = TallyCode.Candidate;
        }

        // Every survivor counts in the combined offset, but only an eligible one can become the system peer.
        var choices = eligible is null ? survivors : survivors.Where(eligible).ToList();
        if (choices.Count == 0)
        {
            return SelectionResult.None;
        }

        Association peer = choices.FirstOrDefault(a => a.Settings.Prefer)
            ?? (current is not null && choices.Contains(current) && current.Stratum <= choices[0].Stratum ? current : choices[0]);

        peer.Tally = TallyCode.SystemPeer;
        (double offset, double jitter) = Combine(survivors, peer, now);
        return new SelectionResult(peer, survivors, offset, jitter);
    }

    /// <summary>Stratum dominates, root distance breaks ties (RFC 5905: MAXDIST · stratum + λ).</summary>
    public static double Metric(Association a, double now) => NtpConstants.MaxDistance * a.Stratum + a.RootDistance(now);

    /// <summary>
    /// Marzullo's intersection as RFC 5905 gives it: find the smallest number of falsetickers f for which the
    /// intervals [θ−λ, θ+λ] of the other m−f sources share a point; survivors are those whose offset lies in the
    /// intersection. Sources configured <c>true</c> always survive.
    /// </summary>
    public static List<Association> Intersect(IReadOnlyList<Association> candidates, double now)
    {
        int m = candidates.Count;
        if (m == 0)
        {
            return [];
        }

        var edges = new List<(double Edge, int Type)>(3 * m);
        foreach (Association a in candidates)
        {
            double distance = a.RootDistance(now);
            edges.Add((a.Filter.Offset - distance, -1));
            edges.Add((a.Filter.Offset, 0));
            edges.Add((a.Filter.Offset + distance, +1));
        }

        edges.Sort((x, y) => x.Edge != y.Edge ? x.Edge.CompareTo(y.Edge) : x.Type.CompareTo(y.Type));
        double low = 0;
        double high = 0;
        int allow;
        for (allow = 0; 2 * allow < m; allow++)
        {
            int found = 0;
            int chime = 0;
            low = double.PositiveInfinity;
            high = double.NegativeInfinity;
            for (int i = 0; i < edges.Count; i++)
            {
                chime -= edges[i].Type;
                if (chime >= m - allow)
                {
                    low = edges[i].Edge;
                    break;
                }

                if (edges[i].Type == 0)
                {
                    found++;
                }
            }

            chime = 0;
            for (int i = edges.Count - 1; i >= 0; i--)
            {
                chime += edges[i].Type;
                if (chime >= m - allow)
                {
                    high = edges[i].Edge;
                    break;
                }

                if (edges[i].Type == 0)
                {
                    found++;
                }
            }

            if (found > allow)
            {
                continue;
            }

            if (high > low)
            {
                break;
            }
        }

        if (2 * allow >= m)
        {
            // No majority agrees: only sources marked true can be believed.
            return candidates.Where(a => a.Settings.True).ToList();
        }

        return candidates.Where(a => a.Settings.True || (a.Filter.Offset >= low && a.Filter.Offset <= high)).ToList();
    }

    /// <summary>Removes the survivor with the largest selection jitter while that exceeds the smallest peer jitter.</summary>
    public static void Cluster(List<Association> survivors, int minClock)
    {
        while (survivors.Count > Math.Max(1, minClock))
        {
            double worst = -1;
            int worstIndex = -1;
            double leastPeerJitter = double.PositiveInfinity;
            for (int i = 0; i < survivors.Count; i++)
            {
                double sum = 0;
                for (int j = 0; j < survivors.Count; j++)
                {
                    double d = survivors[j].Filter.Offset - survivors[i].Filter.Offset;
                    sum += d * d;
                }

                double selectionJitter = Math.Sqrt(sum / (survivors.Count - 1));
                if (selectionJitter > worst)
                {
                    worst = selectionJitter;
                    worstIndex = i;
                }

                leastPeerJitter = Math.Min(leastPeerJitter, survivors[i].Filter.Jitter);
            }

            if (worst <= leastPeerJitter)
            {
                break;
            }

            survivors[worstIndex].Tally = TallyCode.Outlier;
            survivors.RemoveAt(worstIndex);
        }
    }

    /// <summary>The offset average weighted by 1/λ, and the system jitter from the spread around the system peer.</summary>
    public static (double Offset, double Jitter) Combine(IReadOnlyList<Association> survivors, Association peer, double now)
    {
        double weights = 0;
        double offset = 0;
        double spread = 0;
        foreach (Association a in survivors)
        {
            double w = 1 / a.RootDistance(now);
            weights += w;
            offset += w * a.Filter.Offset;
            double d = a.Filter.Offset - peer.Filter.Offset;
            spread += w * d * d;
        }

        double selectionJitter = Math.Sqrt(spread / weights);
        return (offset / weights, Math.Sqrt(selectionJitter * selectionJitter + peer.Filter.Jitter * peer.Filter.Jitter));
    }

    private static SelectionResult FallBackToLocalClock(List<Association> localClocks, Association? current)
    {
        if (localClocks.Count == 0)
        {
            return SelectionResult.None;
        }

        Association peer = current is not null && localClocks.Contains(current) ? current : localClocks.OrderBy(a => a.Stratum).First();
        foreach (Association a in localClocks)
        {
            a.Tally = TallyCode.Backup;
        }

        peer.Tally = TallyCode.SystemPeer;
        return new SelectionResult(peer, [peer], 0, peer.Filter.Jitter);
    }
}
