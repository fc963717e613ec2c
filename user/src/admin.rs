//! `user admin`: the operator's command for the admin role. No API call can grant a role; an
//! operator with access to the user service's database (its configuration) runs this:
//!
//! ```text
//! user admin grant <login>    give <login> the admin role
//! user admin revoke <login>   take it away
//! user admin list             who holds a role
//! ```
//!
//! A change applies from the user's next login or refresh (the access token in hand keeps
//! what it carries until it expires, `ACCESS_TOKEN_TTL_SECONDS`).

use anyhow::bail;
use common::auth::Role;
use sqlx::PgPool;

use crate::users;

pub const USAGE: &str = "\
usage: user admin grant <login> | user admin revoke <login> | user admin list

Gives a user the admin role (who runs the catalogue: adds, changes and restocks products),
takes it away, or lists who holds a role. Applies from the user's next login or refresh.
Reads DATABASE_URL, as the service does.";

/// What the operator asked for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Grant(String),
    Revoke(String),
    List,
}

impl Command {
    /// Parses the arguments after `admin`.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        match args {
            [action, login] if action == "grant" => Ok(Self::Grant(login.clone())),
            [action, login] if action == "revoke" => Ok(Self::Revoke(login.clone())),
            [action] if action == "list" => Ok(Self::List),
            _ => Err(format!("unexpected arguments: {}", args.join(" "))),
        }
    }
}

/// `user admin ...`: the process's entry point.
pub async fn command(args: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
    let args: Vec<String> = args.into_iter().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let command =
        Command::parse(&args).map_err(|problem| anyhow::anyhow!("{problem}\n\n{USAGE}"))?;
    let db = common::db::command_pool().await?;
    print!("{}", run(&db, command).await?);
    Ok(())
}

/// Carries out `command` on the user service's database; returns what to print.
pub async fn run(db: &PgPool, command: Command) -> anyhow::Result<String> {
    let (login, grant) = match command {
        Command::List => {
            let holders = users::with_roles(db).await?;
            let mut out = String::new();
            for (login, roles) in &holders {
                out.push_str(&format!("{login}: {}\n", roles.join(", ")));
            }
            out.push_str(&format!("{} users hold a role\n", holders.len()));
            return Ok(out);
        }
        Command::Grant(login) => (login, true),
        Command::Revoke(login) => (login, false),
    };
    let Some(roles) = users::set_role(db, &login, Role::Admin, grant).await? else {
        bail!("no user has the login {login:?}");
    };
    tracing::info!(
        login,
        role = Role::Admin.as_str(),
        grant,
        "role changed by an operator"
    );
    let roles = if roles.is_empty() {
        "no roles".to_owned()
    } else {
        roles.join(", ")
    };
    Ok(format!(
        "{login}: {roles} (from the next login or refresh)\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::Command;

    fn parse(args: &[&str]) -> Result<Command, String> {
        Command::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn the_three_commands_parse_and_anything_else_is_refused() {
        assert_eq!(
            parse(&["grant", "alice"]),
            Ok(Command::Grant("alice".into()))
        );
        assert_eq!(
            parse(&["revoke", "alice"]),
            Ok(Command::Revoke("alice".into()))
        );
        assert_eq!(parse(&["list"]), Ok(Command::List));
        for bad in [
            &[][..],
            &["grant"],
            &["grant", "a", "b"],
            &["promote", "alice"],
            &["list", "x"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
