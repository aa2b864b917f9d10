//! Query parameters as AWS sends them: flat `Name=value` pairs, lists as `Name.member.N`,
//! list elements' fields as `Name.member.N.Field`.

use iamd_domain::ApiError;
use iamd_domain::entities::Tag;

#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes `application/x-www-form-urlencoded` text, appending to what is there.
    pub fn extend_from_form(&mut self, form: &[u8]) {
        self.pairs.extend(form_urlencoded::parse(form).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }

    /// Parameters given as name/value pairs (the console's, built from its forms).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Params { pairs: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// Drops the SigV4 parameters of a pre-signed request: they authenticate, they are not input.
    pub fn without_signature_params(mut self) -> Self {
        self.pairs.retain(|(k, _)| !k.starts_with("X-Amz-"));
        self
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A parameter the model marks required (validation has already checked it is there).
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| {
            ApiError::validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                iamd_model::lower_camel(name)
            ))
        })
    }

    /// `Path`/`NewPath` shapes, with AWS's own message (it runs before the model validation,
    /// which reports an over-long path in Coral form).
    pub fn check_paths(&self) -> Result<(), ApiError> {
        for name in ["Path", "NewPath"] {
            let Some(path) = self.get(name) else { continue };
            let well_formed = path == "/"
                || (path.len() >= 2
                    && path.starts_with('/')
                    && path.ends_with('/')
                    && path.bytes().all(|b| (0x21..=0x7e).contains(&b)));
            if !well_formed && path.chars().count() <= 512 {
                return Err(ApiError::validation(
                    "The specified value for path is invalid. It must begin and end with / and contain only \
                     alphanumeric characters and/or / characters.",
                ));
            }
        }
        Ok(())
    }

    /// `Name.member.1`, `Name.member.2`, … in index order.
    pub fn list(&self, name: &str) -> Vec<&str> {
        let prefix = format!("{name}.member.");
        let mut items: Vec<(u32, &str)> =
            self.pairs.iter().filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.parse().ok()?, v.as_str()))).collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// `Tags.member.N.Key` / `Tags.member.N.Value` pairs in index order.
    pub fn tags(&self, name: &str) -> Vec<Tag> {
        let prefix = format!("{name}.member.");
        let mut indexes: Vec<u32> =
            self.pairs.iter().filter_map(|(k, _)| k.strip_prefix(&prefix)?.split('.').next()?.parse().ok()).collect();
        indexes.sort_unstable();
        indexes.dedup();
        indexes
            .into_iter()
            .map(|i| Tag {
                key: self.get(&format!("{prefix}{i}.Key")).unwrap_or_default().to_owned(),
                value: self.get(&format!("{prefix}{i}.Value")).unwrap_or_default().to_owned(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_lists_and_tags_in_index_order() {
        let mut p = Params::default();
        p.extend_from_form(
            b"Action=TagMFADevice&Tags.member.2.Key=b&Tags.member.2.Value=2&Tags.member.1.Key=a&Tags.member.1.Value=a+b\
              &TagKeys.member.10=z&TagKeys.member.2=y&X-Amz-Date=1",
        );
        assert_eq!(p.get("Action"), Some("TagMFADevice"));
        assert_eq!(
            p.tags("Tags"),
            vec![Tag { key: "a".into(), value: "a b".into() }, Tag { key: "b".into(), value: "2".into() }]
        );
        assert_eq!(p.list("TagKeys"), vec!["y", "z"]);
        let p = p.without_signature_params();
        assert_eq!(p.get("X-Amz-Date"), None);
        assert_eq!(
            p.required("UserName").unwrap_err().message,
            "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"
        );
    }
}
