using System.Net;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Host;
using Meridian.Host.Nts;
using Meridian.Protocol.Nts;

namespace Meridian.Daemon;

/// <summary>
/// The client half of NTS (<c>server HOST nts</c>, RFC 8915): when the engine says an association needs keys, an
/// NTS-KE exchange with HOST (TLS 1.3 on port 4460, the certificate checked against <c>nts ca</c> or the system's
/// CAs and HOST's name; no date check for the first <c>nts nocerttimecheck N</c> clock updates, no check at all with
/// <c>noval</c>, each logged as the risk it is) runs on a thread of its own, and its keys and cookies go back to the
/// event loop. A failure
/// is logged with its reason and tried again later, doubling from 16 s to 1024 s, so an unreachable or misconfigured
/// server is never hammered.
/// </summary>
public sealed class NtsClient(NtpEngine engine, NtsConfig config, Action<Action> post, Log log)
{
    private const double FirstRetry = 16;
    private const double LastRetry = 1024;

    private readonly Dictionary<Association, (double At, double Wait)> _retries = [];
    private readonly HashSet<Association> _running = [];

    /// <summary>Key exchanges that gave keys and cookies.</summary>
    public int Completed { get; private set; }

    /// <summary>Key exchanges that failed (each logged with its reason).</summary>
    public int Failed { get; private set; }

    /// <summary>From the event loop's tick: start the exchanges the engine asked for and the retries that are due.</summary>
    public void Tick(double now)
    {
        while (engine.KeyExchangeRequests.TryDequeue(out Association? association))
        {
            if (!_retries.ContainsKey(association))
            {
                Begin(association);
            }
        }

        foreach ((Association association, (double at, _)) in _retries.ToList())
        {
            if (now >= at && !_running.Contains(association) && engine.Associations.Contains(association))
            {
                Begin(association);
            }
            else if (!engine.Associations.Contains(association))
            {
                _retries.Remove(association);
            }
        }

        _now = now;
    }

    private double _now;

    private void Begin(Association association)
    {
        if (!_running.Add(association))
        {
            return;
        }

        string host = association.Settings.Name ?? association.Address.Address.ToString();
        bool noval = association.Settings.NtsNoValidation;
        long updates = engine.ClockUpdates;
        NtsKeClientOptions options = ClientOptions(config, noval, updates, association.Settings.NtsCa);
        IPAddress address = association.Address.Address;
        int port = association.Settings.NtsKePort;
        ushort[] preference = AeadPreference(association.Settings.NtsAead ?? config.Aead);
        var thread = new Thread(() =>
        {
            try
            {
                NtsKeyExchangeResult result = NtsKeyExchange.Run(host, address, options, preference, port);
                string? warning = result.Waived is not { } w ? null
                    : noval ? $"NTS-KE with {host}: certificate not validated (noval), insecure; the check would have refused it ({w.Failure}: {w.Message})"
                    : $"NTS-KE with {host}: certificate accepted outside its validity dates (nts nocerttimecheck {config.NoCertTimeCheck}, {updates} clock update(s) so far) ({w.Failure}: {w.Message})";
                post(() => Finish(association, host, result.State, result.NtpServer, result.Summary, warning));
            }
            catch (Exception e) when (NtsKeyExchange.Reason(e) is string reason)
            {
                post(() => Fail(association, host, reason));
            }
        })
        { IsBackground = true, Name = "nts-ke " + host };
        thread.Start();
    }

    /// <summary>
    /// The certificate check of one exchange: <c>nts nocerttimecheck N</c> (chrony's) skips the dates while the clock has
    /// been updated fewer than N times; <c>noval</c> skips the whole check. A server line's own <c>ca</c> wins over
    /// <c>nts ca</c>.
    /// </summary>
    public static NtsKeClientOptions ClientOptions(NtsConfig config, bool noval, long clockUpdates, string? serverCa = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new NtsKeClientOptions
        {
            CaFile = serverCa ?? config.CertificateAuthorities,
            Timeout = TimeSpan.FromSeconds(10),
            SkipDateCheck = clockUpdates < config.NoCertTimeCheck,
            SkipVerification = noval,
        };
    }

    /// <summary>
    /// The AEADs offered, best first: <c>nts aead</c>'s choice ahead of the rest (NTPsec: the preference passed to
    /// the server, which picks the first of the list it supports, RFC 8915 §4.1.5).
    /// </summary>
    public static ushort[] AeadPreference(ushort? configured) =>
        configured is ushort first ? [first, .. NtsAead.Supported.Where(a => a != first)] : [.. NtsAead.Supported];

    private void Finish(Association association, string host, NtsClientState state, IPEndPoint? server, string summary, string? warning)
    {
        _running.Remove(association);
        if (warning is not null)
        {
            log.Warning(warning);
        }

        _retries.Remove(association);
        if (!engine.Associations.Contains(association))
        {
            state.Dispose();
            return;
        }

        engine.SetNts(association, state, server);
        Completed++;
        log.Info($"NTS-KE with {host}: {summary}");
    }

    private void Fail(Association association, string host, string reason)
    {
        _running.Remove(association);
        Failed++;
        if (engine.Associations.Contains(association))
        {
            engine.KeyExchangeFailed(association, reason);
        }

        double wait = _retries.TryGetValue(association, out var last) ? Math.Min(last.Wait * 2, LastRetry) : FirstRetry;
        _retries[association] = (_now + wait, wait);
        log.Warning($"NTS-KE with {host} failed ({reason}); trying again in {wait:0} s");
    }
}
