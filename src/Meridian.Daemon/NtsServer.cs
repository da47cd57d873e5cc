using System.Net;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Host;
using Meridian.Host.Nts;

namespace Meridian.Daemon;

/// <summary>
/// The server half of NTS (<c>nts enable</c>, RFC 8915): the cookie master keys (from <c>nts cookie FILE</c>,
/// shared by a fleet, rotated every <c>nts rotate</c> seconds and saved atomically; in memory without a file), the
/// NTS-KE service, and the TLS 1.3 listener on its own threads (port 4460). SIGHUP reads the certificate and key
/// again; a pair that fails keeps the one in use.
/// </summary>
/// <remarks>
/// A fleet shares the key file. Once a second (the loop's tick; no watcher thread) and on SIGHUP the file's
/// modification time and size are compared with those last read; a changed file is merged into the keys held, by
/// id (<see cref="ServerCookieKeys.Merge"/>), so a server that does not rotate (<c>nts rotate 0</c>), or whose peer
/// rotated first, opens the cookies of the new key without a restart. A refused file is logged with its line and
/// column and the keys held stay. A server that rotates first reads the file (a peer that rotated already makes
/// the rotation not due), and writes the set back whenever the file lacks one of its keys: two servers that
/// rotated at the same moment each end up holding both new keys, in the same order.
/// </remarks>
public sealed class NtsServer : IDisposable
{
    private readonly NtsConfig _config;
    private readonly Log _log;
    private readonly NtsKeServer? _tls;
    private FileStamp? _seen;

    private NtsServer(NtsConfig config, ServerCookieKeys keys, NtsKeServer? tls, FileStamp? seen, Log log)
    {
        _config = config;
        Keys = keys;
        _tls = tls;
        _seen = seen;
        _log = log;
    }

    /// <summary>The cookie master keys; the NTP server path opens cookies with them.</summary>
    public ServerCookieKeys Keys { get; }

    public NtsKeService Service { get; private set; } = null!;

    /// <summary>How often the cookie master key is replaced (<c>nts rotate</c>); null: never, the file's keys only.</summary>
    public TimeSpan? RotationPeriod => _config.RotateSeconds == 0 ? null : TimeSpan.FromSeconds(_config.RotateSeconds);

    /// <summary>The NTS-KE sockets (port 0 in a test gives ephemeral ones); none on an NTP-only server of a fleet.</summary>
    public IReadOnlyList<IPEndPoint> LocalEndPoints => _tls?.LocalEndPoints ?? [];

    /// <summary>The NTS-KE listener's counters; null on an NTP-only server of a fleet.</summary>
    public NtsKeServerCounters? Counters => _tls?.Counters;

    /// <summary>
    /// Loads or creates the cookie keys and starts the NTS-KE listener on <paramref name="addresses"/> (the wildcard
    /// addresses when empty); an NTP-only server of a fleet (<see cref="NtsConfig.ServesNtpOnly"/>) has none.
    /// Throws <see cref="InvalidOperationException"/> with the reason when it cannot serve.
    /// </summary>
    public static NtsServer Start(NtsConfig config, IReadOnlyList<IPAddress> addresses, int port, Log log)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(log);
        (ServerCookieKeys keys, FileStamp? seen) = LoadKeys(config, log);
        var service = new NtsKeService(keys, config.NtpServer, config.NtpPort);
        NtsKeServer? tls = null;
        if (!config.ServesNtpOnly)
        {
            IPAddress[] bind = addresses.Count > 0 ? [.. addresses] : [IPAddress.Any, IPAddress.IPv6Any];
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
                tls?.Dispose();
                keys.Dispose();
                throw new InvalidOperationException($"NTS-KE: cannot serve ({e.Message})", e);
            }
        }

        var server = new NtsServer(config, keys, tls, seen, log) { Service = service };
        string source = config.CookieKeys is null ? " kept in memory (nts cookie FILE keeps the keys across restarts and shares them with other servers)" : " from " + config.CookieKeys;
        string rotation = server.RotationPeriod is TimeSpan period ? $"rotated every {period.TotalSeconds:0} s" : "never rotated here (nts rotate 0: the file's keys are followed)";
        if (tls is null)
        {
            log.Notice($"NTS: serving NTS-authenticated NTP only (no nts cert and key, so no NTS-KE here); cookie key {keys.Current.Id:x8}{source}, {rotation}");
        }
        else
        {
            string fleet = config.NtpServer is null ? "" : $"; NTS-KE names the NTP server {config.NtpServer}{(config.NtpPort is ushort p ? ":" + p : "")}";
            log.Notice($"NTS-KE: serving TLS 1.3 on {string.Join(", ", tls.LocalEndPoints)} with {tls.CertificateSubject} (valid until {tls.CertificateNotAfter:yyyy-MM-dd}); cookie key {keys.Current.Id:x8}{source}, {rotation}{fleet}");
        }

        return server;
    }

    /// <summary>From the event loop's tick, once a second: the shared file read when it changed, then the rotation when due.</summary>
    public void Tick(DateTime utc)
    {
        if (_config.CookieKeys is string path && FileStamp.Of(path) != _seen)
        {
            ReadKeyFile("the file changed");
        }

        if (RotationPeriod is TimeSpan period && Keys.RotateIfDue(utc, period))
        {
            Save();
            _log.Info($"NTS: cookie key rotated, now {Keys.Current.Id:x8}; {Keys.Keys.Count - 1} older key(s) still open cookies");
        }
    }

    /// <summary>SIGHUP: the certificate and key read again, and the shared cookie key file.</summary>
    public void Reload()
    {
        if (_tls is not null)
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

        ReadKeyFile("SIGHUP");
    }

    public void Dispose()
    {
        _tls?.Dispose();
        Keys.Dispose();
    }

    /// <summary>
    /// The shared key file merged into the keys held (<see cref="ServerCookieKeys.Merge"/>). A server that rotates
    /// writes the set back when the file lacks one of its keys (a peer that rotated at the same time overwrote it).
    /// </summary>
    private void ReadKeyFile(string why)
    {
        if (_config.CookieKeys is not string path)
        {
            return;
        }

        _seen = FileStamp.Of(path);
        if (_seen is null)
        {
            _log.Error($"NTS: the cookie key file {path} is gone ({why}); the {Keys.Keys.Count} key(s) in use are kept{(RotationPeriod is null ? "" : " and written again")}");
            if (RotationPeriod is not null)
            {
                Save();
            }

            return;
        }

        CookieKeyMerge merge;
        try
        {
            merge = Keys.Merge(File.ReadAllText(path, System.Text.Encoding.ASCII));
        }
        catch (CookieKeyFileException e)
        {
            _log.Error($"NTS: cookie key file refused ({why}): {e.Describe(path)}; the {Keys.Keys.Count} key(s) in use are kept");
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Error($"NTS: cannot read the cookie key file {path} ({why}: {e.Message}); the {Keys.Keys.Count} key(s) in use are kept");
            return;
        }

        if (merge.Added > 0)
        {
            _log.Notice($"NTS: cookie keys read from {path} ({why}): {merge.Added} new, current {Keys.Current.Id:x8}, {Keys.Keys.Count} held");
        }

        if (merge.FileLacksKeys && RotationPeriod is not null)
        {
            Save();
            _log.Notice($"NTS: {path} lacked key(s) held here (a peer rotated at the same time?); the merged set is written back");
        }
    }

    private static (ServerCookieKeys Keys, FileStamp? Seen) LoadKeys(NtsConfig config, Log log)
    {
        if (config.CookieKeys is not string path)
        {
            return (new ServerCookieKeys(CryptoRandomSource.Instance, DateTime.UtcNow), null);
        }

        FileStamp? seen = FileStamp.Of(path);
        if (File.Exists(path))
        {
            try
            {
                return (ServerCookieKeys.Parse(File.ReadAllText(path, System.Text.Encoding.ASCII), CryptoRandomSource.Instance), seen);
            }
            catch (CookieKeyFileException e)
            {
                throw new InvalidOperationException($"NTS: cookie key file refused: {e.Describe(path)}", e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"NTS: cannot read the cookie keys {path} ({e.Message})", e);
            }
        }

        if (config.RotateSeconds == 0)
        {
            throw new InvalidOperationException($"NTS: 'nts rotate 0' takes the cookie keys from {path}, which does not exist (the fleet's rotating server writes it; copy it here, or start that one first)");
        }

        var keys = new ServerCookieKeys(CryptoRandomSource.Instance, DateTime.UtcNow);
        AtomicFile.Write(path, keys.Format(), ownerOnly: true, shared: true);
        log.Notice($"NTS: new cookie keys written to {path}");
        return (keys, FileStamp.Of(path));
    }

    private void Save()
    {
        if (_config.CookieKeys is string path)
        {
            try
            {
                AtomicFile.Write(path, Keys.Format(), ownerOnly: true, shared: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.Error($"NTS: cannot save the cookie keys to {path} ({e.Message}); the new key is used but other servers cannot open its cookies");
            }
        }
    }
}
