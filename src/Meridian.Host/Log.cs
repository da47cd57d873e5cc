using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Meridian.Host;

/// <summary>Syslog priorities, in the order of RFC 5424.</summary>
public enum LogLevel
{
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

/// <summary>
/// ntpd-style logging: to a log file, to syslog, or to a terminal, each line prefixed the way ntpd 4.2.8 prefixes it
/// (<c>22 Nov 10:05:24 ntpd[1234]: </c>), since administrators grep for these lines.
/// </summary>
public sealed class Log : IDisposable
{
    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    private readonly object _gate = new();
    private readonly string _program;
    private readonly int _pid = Environment.ProcessId;
    private readonly bool _ownsWriter;
    private readonly Socket? _syslog;
    private readonly string? _path;
    private TextWriter? _writer;

    private Log(string program, TextWriter? writer, bool ownsWriter, Socket? syslog, string? path = null)
    {
        _program = program;
        _writer = writer;
        _ownsWriter = ownsWriter;
        _syslog = syslog;
        _path = path;
    }

    /// <summary>Lines below this level are not written (debug lines need <c>-d</c>).</summary>
    public LogLevel Threshold { get; set; } = LogLevel.Info;

    public static Log ToWriter(string program, TextWriter writer) => new(program, writer, false, null);

    /// <summary>Appends to <paramref name="path"/>, creating it; flushes every line so nothing is lost on a crash.</summary>
    public static Log ToFile(string program, string path) => new(program, OpenFile(path), true, null, path);

    /// <summary>The log file's path, when the log is a file.</summary>
    public string? Path => _path;

    /// <summary>
    /// Closes and opens the log file again by its name (SIGHUP), so that after logrotate renamed it the lines go to
    /// a new file; a log that is not a file is left as it is. When the file cannot be opened the old one is kept.
    /// </summary>
    public void Reopen()
    {
        if (_path is null)
        {
            return;
        }

        TextWriter fresh = OpenFile(_path);
        TextWriter? old;
        lock (_gate)
        {
            old = _writer;
            _writer = fresh;
        }

        old?.Dispose();
    }

    private static StreamWriter OpenFile(string path)
    {
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        return new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true };
    }

    /// <summary>Sends to the local syslog daemon through /dev/log, falling back to standard error when there is none.</summary>
    public static Log ToSyslog(string program)
    {
        try
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint("/dev/log"));
            return new Log(program, null, false, socket);
        }
        catch (SocketException)
        {
            return ToWriter(program, Console.Error);
        }
    }

    /// <summary>ntpd's human log time: day of month padded to two, month name, 24-hour local time.</summary>
    public static string HumanTime(DateTime local) =>
        string.Create(CultureInfo.InvariantCulture, $"{local.Day,2} {Months[local.Month - 1]} {local.Hour:00}:{local.Minute:00}:{local.Second:00}");

    public void Write(LogLevel level, string message)
    {
        if (level > Threshold)
        {
            return;
        }

        lock (_gate)
        {
            if (_syslog is not null)
            {
                // Facility "daemon" (3).
                string line = $"<{3 * 8 + (int)level}>{_program}[{_pid}]: {message}";
                try
                {
                    _syslog.Send(Encoding.UTF8.GetBytes(line));
                }
                catch (SocketException)
                {
                    Console.Error.WriteLine(line);
                }

                return;
            }

            if (_writer is null)
            {
                return;
            }

            _writer.WriteLine($"{HumanTime(DateTime.Now)} {_program}[{_pid}]: {message}");
            _writer.Flush();
        }
    }

    public void Error(string message) => Write(LogLevel.Error, message);

    public void Warning(string message) => Write(LogLevel.Warning, message);

    public void Notice(string message) => Write(LogLevel.Notice, message);

    public void Info(string message) => Write(LogLevel.Info, message);

    public void Debug(string message) => Write(LogLevel.Debug, message);

    public void Dispose()
    {
        _syslog?.Dispose();
        if (_ownsWriter)
        {
            lock (_gate)
            {
                _writer?.Dispose();
                _writer = null;
            }
        }
    }
}
