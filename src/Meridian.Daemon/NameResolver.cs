using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Meridian.Daemon;

/// <summary>
/// Resolves host names (getaddrinfo) without ever blocking the event loop: one background thread makes the lookups,
/// one at a time, and posts each answer back to the loop, where the caller's continuation runs. In the one-thread
/// setting there is no such thread: the lookup runs on the loop itself (under a network simulator it answers at
/// once), and its answer still arrives as a posted continuation, so callers see the same order of events.
/// </summary>
public sealed class NameResolver : IDisposable
{
    /// <summary>How long a name that does not resolve waits before it is tried again, at most (the wait doubles from 2 s).</summary>
    public const double MaxRetryDelay = 3600;

    private readonly EventLoop _loop;
    private readonly BlockingCollection<(string Name, Action<IPAddress[], string?> Done)>? _work;
    private readonly Thread? _thread;
    private readonly Dictionary<string, Pending> _pending = new(StringComparer.OrdinalIgnoreCase);

    public NameResolver(EventLoop loop, bool inline)
    {
        _loop = loop ?? throw new ArgumentNullException(nameof(loop));
        if (!inline)
        {
            _work = new BlockingCollection<(string, Action<IPAddress[], string?>)>(new ConcurrentQueue<(string, Action<IPAddress[], string?>)>());
            _thread = new Thread(Work) { IsBackground = true, Name = "ntp-resolver" };
            _thread.Start();
        }
    }

    /// <summary>
    /// Looks up <paramref name="name"/>; <paramref name="done"/> runs on the loop with its addresses (IPv4-mapped
    /// ones unmapped), or none and the reason.
    /// </summary>
    public void Resolve(string name, Action<IPAddress[], string?> done)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(done);
        if (IPAddress.TryParse(name, out IPAddress? literal))
        {
            _loop.Post(() => done([literal], null));
            return;
        }

        if (_work is null)
        {
            (IPAddress[] addresses, string? error) = Lookup(name);
            _loop.Post(() => done(addresses, error));
            return;
        }

        if (!_work.IsAddingCompleted)
        {
            _work.Add((name, done));
        }
    }

    /// <summary>
    /// Resolves <paramref name="name"/> until it yields an address that <paramref name="wanted"/> accepts, trying again
    /// after 2, 4, 8 ... s (at most an hour) while it fails; <paramref name="found"/> runs on the loop with the first
    /// such address, <paramref name="failed"/> with the reason and the wait before the next try. Loop thread only.
    /// </summary>
    public void ResolveUntilFound(string name, Func<IPAddress, bool> wanted, Action<IPAddress> found, Action<string, double> failed)
    {
        ArgumentNullException.ThrowIfNull(name);
        var pending = new Pending(name, wanted, found, failed);
        _pending[name] = pending;
        Try(pending);
    }

    /// <summary>SIGHUP: every name still pending is tried again now, whatever its back-off.</summary>
    public void RetryNow()
    {
        foreach (Pending pending in _pending.Values.ToList())
        {
            pending.Retry?.Cancel();
            Try(pending);
        }
    }

    /// <summary>Names that have not resolved yet.</summary>
    public IReadOnlyCollection<string> PendingNames => _pending.Keys;

    private void Try(Pending pending) =>
        Resolve(pending.Name, (addresses, error) =>
        {
            if (!_pending.TryGetValue(pending.Name, out Pending? current) || current != pending)
            {
                return;
            }

            if (addresses.FirstOrDefault(pending.Wanted) is IPAddress address)
            {
                _pending.Remove(pending.Name);
                pending.Found(address);
                return;
            }

            pending.Failed(error ?? "no address of a family in use", pending.Delay);
            pending.Retry?.Cancel();
            pending.Retry = _loop.After(pending.Delay, () => Try(pending));
            pending.Delay = Math.Min(pending.Delay * 2, MaxRetryDelay);
        });

    /// <summary>A name resolving until found, with its back-off.</summary>
    private sealed class Pending(string name, Func<IPAddress, bool> wanted, Action<IPAddress> found, Action<string, double> failed)
    {
        public string Name { get; } = name;

        public Func<IPAddress, bool> Wanted { get; } = wanted;

        public Action<IPAddress> Found { get; } = found;

        public Action<string, double> Failed { get; } = failed;

        public double Delay { get; set; } = 2;

        public LoopTimer? Retry { get; set; }
    }

    private void Work()
    {
        foreach ((string name, Action<IPAddress[], string?> done) in _work!.GetConsumingEnumerable())
        {
            (IPAddress[] addresses, string? error) = Lookup(name);
            if (!_work.IsAddingCompleted)
            {
                _loop.Post(() => done(addresses, error));
            }
        }
    }

    private static (IPAddress[] Addresses, string? Error) Lookup(string name)
    {
        try
        {
            IPAddress[] addresses = Dns.GetHostAddresses(name);
            return (addresses.Select(a => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).Distinct().ToArray(), addresses.Length == 0 ? "no address" : null);
        }
        catch (SocketException e)
        {
            return ([], e.Message);
        }
        catch (ArgumentException e)
        {
            return ([], e.Message);
        }
    }

    /// <summary>
    /// Stops taking names. A lookup still in getaddrinfo finishes on its own (the thread is a background thread and
    /// touches nothing disposed: the queue is left to the collector, and its answer is not posted).
    /// </summary>
    public void Dispose()
    {
        _work?.CompleteAdding();
        _thread?.Join(TimeSpan.FromSeconds(1));
    }
}
