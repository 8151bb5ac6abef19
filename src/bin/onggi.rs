//! `onggi`: a daemonless container engine. Thin: parse, call the engine, print.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use onggi_engine::{images_table, Engine, PullArgs};

#[derive(Parser)]
#[command(name = "onggi", version, about = "A daemonless container engine")]
struct Cli {
    /// Store root directory.
    #[arg(long, global = true, default_value = "/var/lib/onggi")]
    root: PathBuf,
    /// No progress output.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pull an image from a registry.
    Pull {
        reference: String,
        /// OS/ARCH[/VARIANT] to pick from a multi-platform image.
        #[arg(long)]
        platform: Option<String>,
        /// Allow plain HTTP for this registry.
        #[arg(long)]
        insecure: bool,
        /// USER:PASSWORD for the registry.
        #[arg(long)]
        creds: Option<String>,
        /// Registries config (JSON: {"insecure": ["host:port"]}).
        #[arg(long)]
        registries_conf: Option<PathBuf>,
    },
    /// List images.
    Images {
        /// table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Image commands.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Remove images and collect unused blobs and layers.
    Rmi {
        #[arg(required = true)]
        names: Vec<String>,
        /// Remove even if a bundle uses it.
        #[arg(long, short)]
        force: bool,
    },
    /// Load images from an OCI layout (directory or tar) or a docker-archive tar.
    Load {
        /// The archive or layout directory.
        #[arg(long, short)]
        input: PathBuf,
        /// Name for the image when the archive has one image.
        #[arg(long)]
        name: Option<String>,
    },
    /// Save images to an archive.
    Save {
        /// Where to write.
        #[arg(long, short)]
        output: PathBuf,
        /// docker-archive, oci-archive or oci-dir.
        #[arg(long, default_value = "docker-archive")]
        format: String,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Give an image another name.
    Tag { source: String, target: String },
    /// Write an OCI bundle for an image (rootfs mounted from its snapshots).
    Bundle {
        image: String,
        dir: PathBuf,
        /// Command replacing the image's Cmd.
        #[arg(trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// Run a command in a new container of an image, then remove the container.
    Run {
        /// OCI runtime to use (default: onggi-runtime next to onggi).
        #[arg(long)]
        runtime: Option<PathBuf>,
        image: String,
        /// Command replacing the image's Cmd.
        #[arg(trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// Unmount and remove a bundle made by `onggi bundle`.
    Unbundle { dir: PathBuf },
    /// Build an image.
    Build {
        /// Build from host binaries and the libraries they load.
        #[arg(long, required = true)]
        from_host: bool,
        /// Image name.
        name: String,
        /// Host binaries to include.
        #[arg(required = true)]
        binaries: Vec<PathBuf>,
        /// Also copy SRC (file or directory) to DEST in the image.
        #[arg(long = "add", value_name = "SRC:DEST")]
        adds: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Show an image's record, manifest and config as JSON.
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List images.
    Ls {
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Remove images.
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long, short)]
        force: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("onggi: {e}");
        std::process::exit(1);
    }
}

fn list(engine: &Engine, format: &str) -> Result<()> {
    let images = engine.images()?;
    match format {
        "json" => println!("{}", serde_json::to_string_pretty(&images)?),
        "table" => print!("{}", images_table(&images)),
        other => anyhow::bail!("unknown --format {other:?} (table or json)"),
    }
    Ok(())
}

fn rmi(engine: &Engine, names: &[String], force: bool) -> Result<()> {
    for line in engine.rmi(names, force)? {
        println!("{line}");
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    let engine = Engine::open(&cli.root, cli.quiet)?;
    match cli.command {
        Command::Pull {
            reference,
            platform,
            insecure,
            creds,
            registries_conf,
        } => {
            let args = PullArgs {
                platform,
                insecure,
                creds,
                registries_conf,
            };
            let image = engine.pull(&reference, &args)?;
            if !cli.quiet {
                eprintln!("Pulled {reference}");
            }
            println!("{}", image.id);
        }
        Command::Images { format }
        | Command::Image {
            command: ImageCommand::Ls { format },
        } => list(&engine, &format)?,
        Command::Image {
            command: ImageCommand::Inspect { names },
        } => {
            let all = names
                .iter()
                .map(|n| engine.inspect(n))
                .collect::<Result<Vec<_>, _>>()?;
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
        Command::Rmi { names, force }
        | Command::Image {
            command: ImageCommand::Rm { names, force },
        } => rmi(&engine, &names, force)?,
        Command::Load { input, name } => {
            for image in engine.load(&input, name.as_deref())? {
                match image.names.first() {
                    Some(n) => println!("Loaded image: {n}"),
                    None => println!("Loaded image ID: {}", image.id),
                }
            }
        }
        Command::Save {
            output,
            format,
            images,
        } => engine.save(&images, &output, &format)?,
        Command::Tag { source, target } => engine.tag(&source, &target)?,
        Command::Bundle {
            image,
            dir,
            command,
        } => {
            let info = engine.bundle(&image, &dir, &command)?;
            if !cli.quiet {
                eprintln!(
                    "Bundle for {image} in {} (run: onggi-runtime run -b {} ID)",
                    info.dir.display(),
                    info.dir.display()
                );
            }
        }
        Command::Run {
            runtime,
            image,
            command,
        } => {
            let code = engine.run(&image, &command, runtime.as_deref())?;
            std::process::exit(code);
        }
        Command::Unbundle { dir } => engine.unbundle(&dir)?,
        Command::Build {
            from_host: _,
            name,
            binaries,
            adds,
        } => {
            let image = engine.build_from_host(&name, &binaries, &adds)?;
            println!("{}", image.id);
        }
    }
    Ok(())
}
