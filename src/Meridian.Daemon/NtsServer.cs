using System.Net;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Host;
using Meridian.Host.Nts;

namespace Meridian.Daemon;

/// <summary>
/// The server half of NTS (<c>nts enable</c>, RFC 8915): the cookie master keys (from <c>nts cookie FILE</c>,
/// shared by a fleet, rotated daily and saved atomically; in memory without a file), the NTS-KE service, and the
/// TLS 1.3 listener on its own threads (port 4460). SIGHUP reads the certificate and key again; a pair that fails
/// keeps the one in use.
/// </summary>
public sealed class NtsServer : IDisposable
{
    /// <summary>How often the cookie master key is replaced; cookies stay valid for the retained keys' periods.</summary>
    public static readonly TimeSpan RotationPeriod = TimeSpan.FromDays(1);

    private readonly NtsConfig _config;
    private readonly Log _log;
    private readonly NtsKeServer _tls;

    private NtsServer(NtsConfig config, ServerCookieKeys keys, NtsKeServer tls, Log log)
    {
        _config = config;
        Keys = keys;
        _tls = tls;
        _log = log;
    }

    /// <summary>The cookie master keys; the NTP server path opens cookies with them.</summary>
    public ServerCookieKeys Keys { get; }

    public NtsKeService Service { get; private set; } = null!;

    /// <summary>The NTS-KE sockets (port 0 in a test gives ephemeral ones).</summary>
    public IReadOnlyList<IPEndPoint> LocalEndPoints => _tls.LocalEndPoints;

    public NtsKeServerCounters Counters => _tls.Counters;

    /// <summary>
    /// Loads or creates the cookie keys and starts the NTS-KE listener on <paramref name="addresses"/> (the wildcard
    /// addresses when empty). Throws <see cref="InvalidOperationException"/> with the reason when it cannot serve.
    /// </summary>
    public static NtsServer Start(NtsConfig config, IReadOnlyList<IPAddress> addresses, int port, Log log)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(log);
        ServerCookieKeys keys = LoadKeys(config.CookieKeys, log);
        IPAddress[] bind = addresses.Count > 0 ? [.. addresses] : [IPAddress.Any, IPAddress.IPv6Any];
        var service = new NtsKeService(keys);
        NtsKeServer tls;
        try
        {
            tls = new NtsKeServer(
                new NtsKeServerOptions
                {
                    CertificateFile = config.Certificate!,
                    PrivateKeyFile = config.Key!,
                    Endpoints = [.. bind.Select(a => new IPEndPoint(a, port))],
                },
                service.Handle);
            tls.Start();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException or InvalidOperationException or ArgumentException)
        {
            keys.Dispose();
            throw new InvalidOperationException($"NTS-KE: cannot serve ({e.Message})", e);
        }

        var server = new NtsServer(config, keys, tls, log) { Service = service };
        log.Notice($"NTS-KE: serving TLS 1.3 on {string.Join(", ", tls.LocalEndPoints)} with {tls.CertificateSubject} (valid until {tls.CertificateNotAfter:yyyy-MM-dd}); cookie key {keys.Current.Id:x8}{(config.CookieKeys is null ? " kept in memory (nts cookie FILE keeps the keys across restarts and shares them with other servers)" : " from " + config.CookieKeys)}");
        return server;
    }

    /// <summary>From the event loop's tick: the daily key rotation, saved for the other servers of a fleet.</summary>
    public void Tick(DateTime utc)
    {
        if (Keys.RotateIfDue(utc, RotationPeriod))
        {
            Save();
            _log.Info($"NTS: cookie key rotated, now {Keys.Current.Id:x8}; {Keys.Keys.Count - 1} older key(s) still open cookies");
        }
    }

    /// <summary>SIGHUP: the certificate and key read again.</summary>
    public void Reload()
    {
        string? problem = _tls.Reload();
        if (problem is null)
        {
            _log.Notice($"NTS-KE: certificate {_config.Certificate} read again: {_tls.CertificateSubject}, valid until {_tls.CertificateNotAfter:yyyy-MM-dd}");
        }
        else
        {
            _log.Error($"NTS-KE: cannot use {_config.Certificate} and {_config.Key} ({problem}); the certificate in use is kept");
        }
    }

    public void Dispose()
    {
        _tls.Dispose();
        Keys.Dispose();
    }

    private static ServerCookieKeys LoadKeys(string? path, Log log)
    {
        if (path is null)
        {
            return new ServerCookieKeys(CryptoRandomSource.Instance, DateTime.UtcNow);
        }

        if (File.Exists(path))
        {
            try
            {
                return ServerCookieKeys.Parse(File.ReadAllText(path, System.Text.Encoding.ASCII), CryptoRandomSource.Instance);
            }
            catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"NTS: cannot read the cookie keys {path} ({e.Message})", e);
            }
        }

        var keys = new ServerCookieKeys(CryptoRandomSource.Instance, DateTime.UtcNow);
        AtomicFile.Write(path, keys.Format(), ownerOnly: true);
        log.Notice($"NTS: new cookie keys written to {path}");
        return keys;
    }

    private void Save()
    {
        if (_config.CookieKeys is string path)
        {
            try
            {
                AtomicFile.Write(path, Keys.Format(), ownerOnly: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.Error($"NTS: cannot save the cookie keys to {path} ({e.Message}); the new key is used but other servers cannot open its cookies");
            }
        }
    }
}
